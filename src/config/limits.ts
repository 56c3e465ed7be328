/**
 * The documented size limits of a job config and of what a run may carry. A config is hostile input to the
 * service (it is parsed in the service's own process), so each limit bounds the work and memory one config
 * can cost; all are far above what real configs use. The schema states the counts as `.max()`, so the loader,
 * `lint` and the JSON Schema agree; REFERENCE.md lists this table.
 *
 * These are constants, not settings: none is a knob an operator should need to turn.
 */
export const LIMITS = {
  /**
   * Bytes of one `job/config.yaml`, checked before it is parsed. Real configs are a few kB. Parsing runs on
   * the service's one thread and costs up to about 1.5 ms per kB for the densest YAML (many tiny values,
   * bench/config-limits.bench.mjs), so this keeps any config within about 100 ms.
   */
  configBytes: 64 * 1024,
  /**
   * YAML nodes (scalars, lists and maps) once every alias is expanded: what the service really has to hold and
   * check. Aliases are fine as a shorthand; an alias "bomb" that expands to more is refused.
   */
  yamlNodes: 100_000,
  /** Nesting depth of the YAML document (the schema itself needs 7 levels). */
  yamlDepth: 32,
  actions: 100,
  eventsPerAction: 20,
  tasksPerAction: 100,
  /** Tasks in the whole config, so also the most one run can have (every action may match). */
  tasksPerConfig: 200,
  /** Entries of `cmd`, and of `args`, of one task. */
  argsPerTask: 200,
  envPerTask: 100,
  filesPerTask: 100,
  /** Characters of one string in the config (a template, an argument, an inline script). */
  stringLength: 16 * 1024,
  /** Nesting of `{{#block}}`s and `(subexpressions)` in one template. */
  templateDepth: 16,
  /** Characters of rendered text for one run: every templated field and event value of every task. */
  renderedRunChars: 4 * 1024 * 1024,
  /** Bytes of one file delivered to a task (a Kubernetes ConfigMap holds at most 1 MiB). */
  fileBytes: 1024 * 1024,
  /** Bytes of all files delivered to one task. */
  taskFileBytes: 4 * 1024 * 1024,
  /** Files delivered to one task (folders count every file below them). */
  taskFiles: 500,
  /** Bytes of the files of all tasks of one run (a run reads them all before its first task starts). */
  runFileBytes: 16 * 1024 * 1024,
} as const;

export type LimitName = keyof typeof LIMITS;

/** The rows of the limits table: what is limited and the value, for REFERENCE.md and the README. */
export const LIMIT_ROWS: ReadonlyArray<readonly [LimitName, string]> = [
  ['configBytes', 'bytes of one job/config.yaml'],
  ['yamlNodes', 'YAML nodes after expanding aliases'],
  ['yamlDepth', 'nesting depth of the YAML'],
  ['actions', 'actions in a config'],
  ['eventsPerAction', 'events of one action'],
  ['tasksPerAction', 'tasks of one action'],
  ['tasksPerConfig', 'tasks in a config (so in a run)'],
  ['argsPerTask', 'entries of cmd, and of args, of one task'],
  ['envPerTask', 'env entries of one task'],
  ['filesPerTask', 'files entries of one task'],
  ['stringLength', 'characters of one string in the config'],
  ['templateDepth', 'nesting of blocks and subexpressions in a template'],
  ['renderedRunChars', 'characters of rendered text (templates and event values) in one run'],
  ['fileBytes', 'bytes of one file delivered to a task'],
  ['taskFileBytes', 'bytes of all files delivered to one task'],
  ['taskFiles', 'files delivered to one task'],
  ['runFileBytes', 'bytes of the files of all tasks of one run'],
];

/** `262144` → `256 KiB`, for messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
