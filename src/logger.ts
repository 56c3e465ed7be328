import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type pinoPretty from 'pino-pretty';

/**
 * pino-pretty only for pretty logs: loaded on use (it is CommonJS, so `require` keeps this synchronous), as
 * it and its dependencies weigh 1 MB of resident memory that JSON logs (the default) never need.
 */
function pretty(options: pinoPretty.PrettyOptions): pinoPretty.PrettyStream {
  const load = createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;
  return load(options);
}

/**
 * pino on stderr (stdout is for answers in `run` and the stdout sink). Tokens are redacted wherever they
 * appear under these keys; task environments are never logged at all.
 */
export function createLogger(level: string, format: 'json' | 'pretty', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'job-executor' },
    redact: {
      paths: [
        'token',
        'authToken',
        'keptnApiToken',
        '*.token',
        '*.authToken',
        '*.keptnApiToken',
        'headers.authorization',
        'headers["x-token"]',
      ],
      censor: '[redacted]',
    },
  };
  // `destination` lets a test read exactly what an operator would see, with the same redaction.
  if (destination)
    return pino(options, format === 'pretty' ? pretty({ destination, colorize: false, sync: true }) : destination);
  if (format === 'pretty') return pino(options, pretty({ destination: 2, colorize: process.stderr.isTTY, sync: true }));
  return pino(options, pino.destination({ dest: 2, sync: false }));
}

export type { Logger };
