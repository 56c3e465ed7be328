import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseJobConfig, type ConfigProblem } from '../config/parse.js';
import { readConfigText, TOO_LARGE } from '../config/read.js';
import { loadYaml, type LoadedYaml, type YamlPath } from '../config/yaml-load.js';
import { isJobExecutorError } from '../errors.js';
import { imagePolicy } from '../policy/images.js';
import { isTemplate } from '../render/handlebars.js';
import { EXIT, parse, type Io } from './common.js';
import { parseOptions, type CommandSpec } from './help.js';

export const LINT_COMMAND: CommandSpec = {
  name: 'lint',
  summary:
    'check job/config.yaml files (or every job/config.yaml below a folder) as the service would load them, and against its policy',
  usage: '[--allowed-images LIST] [--allow-privileged] [--format text|json] FILE|DIR...',
  options: {
    format: {
      type: 'string',
      value: 'text|json',
      description:
        '`text`: one line per problem, `file:line:column: path: message` (default); `json`: one object with every file and its problems, for tools',
    },
  },
  settings: ['allowedImages', 'allowPrivileged'],
  positionals: true,
};

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown =>
  v !== null && typeof v === 'object' && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;

type Position = LoadedYaml['position'];

/**
 * What the service's policy would refuse, beyond the config itself: images outside an allow-list and
 * privileged containers. Everything that is a property of the config alone is in the schema, so `lint` and
 * the loader refuse the same configs. Works on the YAML as data, so a config with schema problems is
 * checked too and `lint` reports everything at once.
 */
export function policyProblems(
  document: unknown,
  options: { allowedImages?: string[]; allowPrivileged?: boolean },
  position?: Position,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const images = options.allowedImages ? imagePolicy(options.allowedImages) : undefined;
  const at = (p: YamlPath) => position?.(p) ?? {};
  list(field(document, 'actions')).forEach((action, a) => {
    list(field(action, 'tasks')).forEach((task, t) => {
      const where = `actions[${a}].tasks[${t}]`;
      const image = field(task, 'image');
      if (images && typeof image === 'string' && image !== '' && !isTemplate(image) && !images.allows(image)) {
        problems.push({
          path: `${where}.image`,
          message: `${image} is not in the image allow-list`,
          ...at(['actions', a, 'tasks', t, 'image']),
        });
      }
      if (field(field(task, 'securityContext'), 'privileged') === true && !options.allowPrivileged) {
        problems.push({
          path: `${where}.securityContext.privileged`,
          message: 'privileged containers are not allowed (pass --allow-privileged if the service allows them)',
          ...at(['actions', a, 'tasks', t, 'securityContext', 'privileged']),
        });
      }
    });
  });
  return problems;
}

/** Folders lint does not look into. */
const SKIP = new Set(['node_modules', '.git']);

/**
 * The configs below a folder, laid out as the service looks them up: every `job/config.yaml` at any depth
 * (`<project>/<stage>/<service>/job/config.yaml`, the global `job/config.yaml`), in a stable order.
 */
export async function configsBelow(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string, depth: number) => {
    if (depth > 16) return;
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries.sort((x, y) => x.name.localeCompare(y.name))) {
      if (!e.isDirectory() || SKIP.has(e.name)) continue;
      const sub = path.join(d, e.name);
      if (e.name === 'job') {
        const file = path.join(sub, 'config.yaml');
        if (
          await stat(file).then(
            (s) => s.isFile(),
            () => false,
          )
        )
          found.push(file);
      }
      await walk(sub, depth + 1);
    }
  };
  await walk(dir, 0);
  return found;
}

interface FileReport {
  readonly file: string;
  readonly problems: ConfigProblem[];
  /** Problems beyond those listed (at most 100 are). */
  readonly more?: number;
}

async function lintFile(
  file: string,
  policy: { allowedImages?: string[]; allowPrivileged: boolean },
): Promise<FileReport> {
  let text: string;
  try {
    text = await readConfigText(file, file);
  } catch (e) {
    const message =
      isJobExecutorError(e) && e.code === 'CONFIG_INVALID'
        ? TOO_LARGE.replace(/^\(root\): /, '')
        : 'cannot read the file';
    return { file, problems: [{ path: '(root)', message }] };
  }
  const result = parseJobConfig(text);
  const document = result.ok ? result.config : result.document;
  // Positions for the policy's problems (the schema's carry their own): the same parser, read once more.
  const yaml = document === undefined ? undefined : loadYaml(text);
  const problems = [
    ...(result.ok ? [] : result.problems),
    ...policyProblems(document, policy, yaml?.ok ? yaml.yaml.position : undefined),
  ];
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { file, problems, ...(!result.ok && result.more ? { more: result.more } : {}) };
}

function textReport(r: FileReport): string {
  if (r.problems.length === 0) return `${r.file}: valid\n`;
  const lines = r.problems.map(
    (p) => `${r.file}${p.line !== undefined ? `:${p.line}:${p.column ?? 1}` : ''}: ${p.path}: ${p.message}\n`,
  );
  return lines.join('') + (r.more ? `${r.file}: and ${r.more} more problems\n` : '');
}

/**
 * `job-executor lint FILE|DIR...`: one line per problem (`file:line:column: path: message`), or `--format json`;
 * exit 1 when any file has a problem, 2 for usage errors (and a folder without configs).
 */
export async function lintCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, parseOptions(LINT_COMMAND), true);
  const format = values.format ?? 'text';
  if (positionals.length === 0 || (format !== 'text' && format !== 'json')) {
    io.err(`usage: job-executor lint ${LINT_COMMAND.usage}\n`);
    return EXIT.usage;
  }
  const policy = {
    ...(typeof values['allowed-images'] === 'string' ? { allowedImages: values['allowed-images'].split(',') } : {}),
    allowPrivileged: values['allow-privileged'] === true,
  };
  const files: string[] = [];
  for (const p of positionals) {
    const isDir = await stat(p).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) files.push(p);
    else {
      const below = await configsBelow(p);
      if (below.length === 0) {
        io.err(`job-executor lint: ${p}: no job/config.yaml below this folder\n`);
        return EXIT.usage;
      }
      files.push(...below);
    }
  }
  const reports: FileReport[] = [];
  for (const file of files) reports.push(await lintFile(file, policy));
  if (format === 'json')
    io.out(`${JSON.stringify({ files: reports.map((r) => ({ ...r, valid: r.problems.length === 0 })) }, null, 2)}\n`);
  else for (const r of reports) io.out(textReport(r));
  return reports.some((r) => r.problems.length > 0) ? EXIT.failed : EXIT.ok;
}
