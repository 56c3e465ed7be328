import { createLogger } from '../logger.js';
import { StdoutSink } from '../keptn/sinks/stream-sinks.js';
import { createSinks } from '../keptn/sinks/create.js';
import { createService } from '../service.js';
import type { RunRecord } from '../executor/run-store.js';
import type { Sink } from '../keptn/sinks/sink.js';
import { JOB_SPEC_SETTINGS, loadSettings, type SettingKey, type Settings } from '../settings/settings.js';
import { EXIT, parse, readEventFile, type Io } from './common.js';
import { parseOptions, type CommandSpec } from './help.js';
import { reportProgress } from './progress.js';
import { JobExecutorError } from '../errors.js';

export const RUN_SETTINGS: SettingKey[] = [
  'config',
  'runner',
  'sink',
  'keptnApiEndpoint',
  'keptnApiToken',
  'pubsubUrl',
  'allowedImages',
  'jobNamespace',
  'allowedNamespaces',
  'allowPrivileged',
  'messageLogBytes',
  'runLogBytes',
  'secretsDir',
  'workDir',
  'keepWorkDirs',
  'passEnv',
  'alwaysSendFinished',
  'eventSource',
  'deliveryAttempts',
  'logLevel',
  'logFormat',
  ...JOB_SPEC_SETTINGS,
  'deleteOnTimeout',
  'taskDeadline',
  'instanceId',
  'dedupWindow',
];

export const RUN_COMMAND: CommandSpec = {
  name: 'run',
  summary: 'one event, one run, no server: answers as JSON lines on stdout, progress on stderr',
  usage: '--event FILE [--config FILE|DIR] [--sink SINK] [--allowed-images LIST] [options]',
  options: {
    event: {
      type: 'string',
      value: 'FILE',
      description: 'The event to run, a JSON CloudEvent (a missing id, time and shkeptncontext are filled in)',
    },
  },
  settings: RUN_SETTINGS,
};

/**
 * `job-executor run --event FILE`: one event, one run. Each outgoing event is one JSON line on stdout (and goes
 * to `--sink` too when one is named); progress and logs go to stderr. Exit 0 when every answer is
 * succeeded (pass or warning) or nothing matched, 1 when the run failed, 2 for usage or config errors.
 */
export async function runCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parse(argv, parseOptions(RUN_COMMAND));
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (typeof values.event !== 'string') {
    io.err(`usage: job-executor run ${RUN_COMMAND.usage}\n`);
    return EXIT.usage;
  }
  const settings = loadSettings({ ...interactiveDefaults(values, io), ...values }, io.env);
  const event = await readEventFile(values.event);
  const logger = createLogger(settings.logLevel, settings.logFormat);
  const explicitSink = values.sink !== undefined || io.env.JOB_EXECUTOR_SINK !== undefined;
  const service = await createService(settings, logger, {
    sinks: answerSinks(settings, io, explicitSink),
    journal: false,
  });
  const stop = reportProgress(service.store, io.err, io.isTTY);
  const submitted = await service.executor.submit(event);
  try {
    if (submitted.status === 'ignored') {
      io.err(`${submitted.detail ?? submitted.message}${submitted.reason === 'no-match' ? '; nothing ran' : ''}\n`);
      return submitted.reason === 'no-match' ? EXIT.ok : EXIT.usage;
    }
    if (submitted.status !== 'accepted')
      throw new JobExecutorError(
        submitted.status === 'queue-full' ? 'QUEUE_FULL' : 'SHUTTING_DOWN',
        `the event was not taken: ${submitted.status}`,
      );
    const run = await submitted.done;
    if (run.error) io.err(`${run.error}\n`);
    return exitCode(run);
  } finally {
    await service.executor.close(1000);
    stop();
  }
}

/** The progress report is the interactive view: service logs default to warnings, pretty on a terminal. */
function interactiveDefaults(values: Record<string, string | boolean | undefined>, io: Io): Record<string, string> {
  const defaults: Record<string, string> = {};
  if (values['log-level'] === undefined && !io.env.LOG_LEVEL) defaults['log-level'] = 'warn';
  if (values['log-format'] === undefined && !io.env.LOG_FORMAT) defaults['log-format'] = io.isTTY ? 'pretty' : 'json';
  return defaults;
}

/** Answers always go to stdout, and to `--sink` too when one is named. */
function answerSinks(settings: Settings, io: Io, explicitSink: boolean): Sink[] {
  const print = new StdoutSink(io.out);
  const sinks = explicitSink ? createSinks(settings).map((s) => (s.name === 'stdout' ? print : s)) : [print];
  if (!sinks.includes(print)) sinks.unshift(print);
  return sinks;
}

function exitCode(run: RunRecord): number {
  if (run.status === 'no-config' || (run.status === 'errored' && run.configOrigin === undefined)) return EXIT.usage;
  if (run.status === 'errored' || run.status === 'failed') return EXIT.failed;
  return run.answers.some((a) => a.status === 'failed') ? EXIT.failed : EXIT.ok;
}
