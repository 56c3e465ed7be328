import { parseJobConfig, type ConfigProblem } from '../config/parse.js';
import { readConfigText, TOO_LARGE } from '../config/read.js';
import { isJobExecutorError } from '../errors.js';
import { imagePolicy } from '../policy/images.js';
import { isTemplate } from '../render/handlebars.js';
import { EXIT, parse, type Io } from './common.js';
import { parseOptions, type CommandSpec } from './help.js';

export const LINT_COMMAND: CommandSpec = {
  name: 'lint',
  summary: 'check job/config.yaml files as the service would load them, and against the service policy',
  usage: '[--allowed-images LIST] [--allow-privileged] FILE...',
  options: {},
  settings: ['allowedImages', 'allowPrivileged'],
  positionals: true,
};


const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown => (v !== null && typeof v === 'object' && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined);

/**
 * What the service's policy would refuse, beyond the config itself: images outside an allow-list and
 * privileged containers. Everything that is a property of the config alone is in the schema, so `lint` and
 * the loader refuse the same configs. Works on the YAML as data, so a config with schema problems is
 * checked too and `lint` reports everything at once.
 */
export function policyProblems(document: unknown, options: { allowedImages?: string[]; allowPrivileged?: boolean }): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const images = options.allowedImages ? imagePolicy(options.allowedImages) : undefined;
  list(field(document, 'actions')).forEach((action, a) => {
    list(field(action, 'tasks')).forEach((task, t) => {
      const at = `actions[${a}].tasks[${t}]`;
      const image = field(task, 'image');
      if (images && typeof image === 'string' && image !== '' && !isTemplate(image) && !images.allows(image)) {
        problems.push({ path: `${at}.image`, message: `${image} is not in the image allow-list` });
      }
      if (field(field(task, 'securityContext'), 'privileged') === true && !options.allowPrivileged) {
        problems.push({ path: `${at}.securityContext.privileged`, message: 'privileged containers are not allowed (pass --allow-privileged if the service allows them)' });
      }
    });
  });
  return problems;
}

/** `job-executor lint FILE...`: one line per problem, `FILE: path: message`; exit 1 when there is any. */
export async function lintCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, parseOptions(LINT_COMMAND), true);
  if (positionals.length === 0) {
    io.err(`usage: job-executor lint ${LINT_COMMAND.usage}\n`);
    return EXIT.usage;
  }
  let bad = 0;
  for (const file of positionals) {
    let text: string;
    try {
      text = await readConfigText(file, file);
    } catch (e) {
      io.out(isJobExecutorError(e) && e.code === 'CONFIG_INVALID' ? `${file}: ${TOO_LARGE}\n` : `${file}: cannot read the file\n`);
      bad++;
      continue;
    }
    const result = parseJobConfig(text);
    const policy = policyProblems(result.ok ? result.config : result.document, {
      ...(typeof values['allowed-images'] === 'string' ? { allowedImages: values['allowed-images'].split(',') } : {}),
      allowPrivileged: values['allow-privileged'] === true,
    });
    const problems = [...(result.ok ? [] : result.problems), ...policy];
    if (problems.length === 0) io.out(`${file}: valid\n`);
    for (const p of problems) io.out(`${file}: ${p.path}: ${p.message}\n`);
    if (!result.ok && result.more) io.out(`${file}: and ${result.more} more problems\n`);
    if (problems.length > 0) bad++;
  }
  return bad > 0 ? EXIT.failed : EXIT.ok;
}
