import { createLogger } from '../logger.js';
import { createService, startServer } from '../service.js';
import { SETTINGS, loadSettings, type SettingKey } from '../settings/settings.js';
import { parse, type Io } from './common.js';
import { parseOptions, type CommandSpec } from './help.js';

export const SERVE_COMMAND: CommandSpec = {
  name: 'serve',
  summary:
    'the long-running service: POST / takes events (or --transport keptn-api|nats pulls them); every flag mirrors an environment variable',
  usage: '[options]',
  options: {},
  settings: Object.keys(SETTINGS) as SettingKey[],
};

/** `job-executor serve`: the long-running service. Every flag mirrors an environment variable. */
export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, parseOptions(SERVE_COMMAND));
  const settings = loadSettings(values, io.env);
  const logger = createLogger(settings.logLevel, settings.logFormat);
  // The last line of defence of a long-running service: a promise nobody awaited must not take it down.
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (a bug: please report it)'));
  const service = await createService(settings, logger);
  const running = await startServer(settings, logger, service);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down: no new events; running tasks get the grace period');
      void running.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
  logger.flush();
  return 0;
}
