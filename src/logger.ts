import pino, { type Logger } from 'pino';
import type pinoPretty from 'pino-pretty';
import { lazyRequire } from './util/lazy-require.js';

/** pino-pretty only for pretty logs: it and its dependencies weigh 1 MB that JSON logs (the default) never need. */
const loadPretty = lazyRequire<typeof pinoPretty>('pino-pretty');
const pretty = (options: pinoPretty.PrettyOptions): pinoPretty.PrettyStream => loadPretty()(options);

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
