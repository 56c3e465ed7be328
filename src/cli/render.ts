import { jsYaml } from '../render/js-yaml-lib.js';
import { configSourceFor } from '../config/sources/directory.js';
import { FileBudget, readTaskFiles } from '../config/task-files.js';
import { isTaskTriggered } from '../keptn/event.js';
import { answerType } from '../keptn/responses.js';
import { matchActions } from '../matching/match.js';
import { checkPolicy } from '../policy/checks.js';
import { renderActions } from '../render/task-spec.js';
import { buildJob } from '../runners/kubernetes/job-spec.js';
import { jobDefaults, policyFromSettings } from '../service.js';
import { JOB_SPEC_SETTINGS, loadSettings } from '../settings/settings.js';
import { EXIT, parse, readEventFile, type Io } from './common.js';
import { parseOptions, type CommandSpec } from './help.js';

export const RENDER_COMMAND: CommandSpec = {
  name: 'render',
  summary:
    'what would run for an event, rendered, without running it (YAML on stdout; --runner kubernetes: the exact manifests)',
  usage: '--event FILE [--config FILE|DIR] [--allowed-images LIST] [--runner local|kubernetes] [options]',
  options: {
    event: {
      type: 'string',
      value: 'FILE',
      description: 'The event, a JSON CloudEvent (a missing id, time and shkeptncontext are filled in)',
    },
  },
  settings: [
    'config',
    'runner',
    'allowedImages',
    'jobNamespace',
    'allowedNamespaces',
    'allowPrivileged',
    ...JOB_SPEC_SETTINGS,
    'taskDeadline',
  ],
};

/**
 * `job-executor render --event FILE --config FILE|DIR`: what would run, without running it: the matched
 * actions, every task with its templates rendered and its environment resolved (Secrets by reference only),
 * the answers that would be sent, and whether the policy lets it run. YAML on stdout.
 */
export async function renderCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, parseOptions(RENDER_COMMAND));
  if (typeof values.event !== 'string') {
    io.err(`usage: job-executor render ${RENDER_COMMAND.usage}\n`);
    return EXIT.usage;
  }
  const settings = loadSettings(values, io.env);
  const event = await readEventFile(values.event);
  const source = await configSourceFor(settings.config);
  const loaded = await source.load({ ...event.data, ...(event.gitcommitid ? { gitcommitid: event.gitcommitid } : {}) });
  const matched = matchActions(loaded.config, event);
  const actions = renderActions(matched, event, settings.taskDeadline);
  let policy = 'allowed';
  try {
    checkPolicy(
      actions.flatMap((a) => a.tasks),
      policyFromSettings(settings),
    );
  } catch (e) {
    policy = (e as Error).message;
  }
  if (settings.runner === 'kubernetes') {
    // The exact objects the Kubernetes runner would create, in order: each Job (suspended when it has
    // files), then its ConfigMaps (owned by the Job once it exists).
    const docs: string[] = [];
    const budget = FileBudget.forRun();
    for (const task of actions.flatMap((a) => a.tasks)) {
      const files = await readTaskFiles(loaded.files, task.files, undefined, budget);
      const { job, configMaps } = buildJob({
        task,
        event,
        configHash: loaded.hash,
        files,
        defaults: jobDefaults(settings),
      });
      docs.push(
        jsYaml().dump(job, { lineWidth: -1, noRefs: true }),
        ...configMaps.map((c) => jsYaml().dump(c, { lineWidth: -1, noRefs: true })),
      );
    }
    io.out(`# config: ${loaded.origin}\n# policy: ${policy}\n${docs.map((d) => `---\n${d}`).join('')}`);
    return policy === 'allowed' ? EXIT.ok : EXIT.failed;
  }
  const answers =
    isTaskTriggered(event.type) && matched.some((m) => !m.action.silent)
      ? [answerType(event.type, 'started'), answerType(event.type, 'finished')]
      : [];
  io.out(
    jsYaml().dump(
      {
        config: loaded.origin,
        level: loaded.level,
        event: { id: event.id, type: event.type },
        runner: settings.runner,
        policy,
        answers,
        actions,
      },
      { lineWidth: -1, noRefs: true },
    ),
  );
  return policy === 'allowed' ? EXIT.ok : EXIT.failed;
}
