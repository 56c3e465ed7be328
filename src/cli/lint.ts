import { readFile } from 'node:fs/promises';
import { parseJobConfig, type ConfigProblem } from '../config/parse.js';
import type { JobConfig } from '../config/schema.js';
import { globToRegExp } from '../matching/glob.js';
import { imagePolicy } from '../policy/images.js';
import { templateSyntaxError } from '../render/handlebars.js';
import { EXIT, parse, type Io } from './common.js';

const USAGE = 'usage: job-executor lint [--allowed-images LIST] [--allow-privileged] FILE...';

/** Checks the schema cannot: globs, JSONPaths, template syntax, images against an allow-list, privilege. */
export function semanticProblems(config: JobConfig, options: { allowedImages?: string[]; allowPrivileged?: boolean }): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const images = options.allowedImages ? imagePolicy(options.allowedImages) : undefined;
  config.actions.forEach((action, a) => {
    action.events.forEach((ev, e) => {
      try {
        globToRegExp(ev.name);
      } catch (err) {
        problems.push({ path: `actions[${a}].events[${e}].name`, message: (err as Error).message });
      }
      if (ev.jsonpath && !ev.jsonpath.property.startsWith('$')) {
        problems.push({ path: `actions[${a}].events[${e}].jsonpath.property`, message: 'a JSONPath starts with "$", e.g. $.data.action.action' });
      }
    });
    action.tasks.forEach((task, t) => {
      const at = `actions[${a}].tasks[${t}]`;
      const strings: Array<[string, string | undefined]> = [
        ['name', task.name],
        ['image', task.image],
        ['imagePullPolicy', task.imagePullPolicy],
        ['workingDir', task.workingDir],
        ['namespace', task.namespace],
        ['serviceAccount', task.serviceAccount],
        ...(task.cmd ?? []).map((v, i): [string, string] => [`cmd[${i}]`, v]),
        ...(task.args ?? []).map((v, i): [string, string] => [`args[${i}]`, v]),
        ...(task.files ?? []).map((v, i): [string, string] => [`files[${i}]`, v]),
        ...(task.env ?? []).flatMap((v, i): Array<[string, string]> => [
          [`env[${i}].name`, v.name],
          [`env[${i}].value`, v.value],
        ]),
      ];
      for (const [field, value] of strings) {
        const err = value === undefined ? undefined : templateSyntaxError(value);
        if (err) problems.push({ path: `${at}.${field}`, message: `template syntax: ${err}` });
      }
      if (task.image === '') problems.push({ path: `${at}.image`, message: 'required' });
      else if (images && !task.image.includes('{{') && !images.allows(task.image)) {
        problems.push({ path: `${at}.image`, message: `${task.image} is not in the image allow-list` });
      }
      (task.env ?? []).forEach((env, i) => {
        if (env.valueFrom === 'event' && !env.value.startsWith('$') && !env.value.includes('{{')) {
          problems.push({ path: `${at}.env[${i}].value`, message: 'valueFrom event takes a JSONPath starting with "$", e.g. $.data.labels.x' });
        }
      });
      if (task.securityContext?.privileged === true && !options.allowPrivileged) {
        problems.push({ path: `${at}.securityContext.privileged`, message: 'privileged containers are not allowed (pass --allow-privileged if the service allows them)' });
      }
      if (task.cmd?.length === 1 && /\s/.test(task.cmd[0] as string) && !(task.cmd[0] as string).includes('{{')) {
        problems.push({ path: `${at}.cmd[0]`, message: `"${task.cmd[0]}" holds spaces: put the program in cmd and its arguments in args` });
      }
    });
  });
  return problems;
}

/** `job-executor lint FILE...`: one line per problem, `FILE: path: message`; exit 1 when there is any. */
export async function lintCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { 'allowed-images': { type: 'string' }, 'allow-privileged': { type: 'boolean' } }, true);
  if (positionals.length === 0) {
    io.err(`${USAGE}\n`);
    return EXIT.usage;
  }
  let bad = 0;
  for (const file of positionals) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      io.out(`${file}: cannot read the file\n`);
      bad++;
      continue;
    }
    const result = parseJobConfig(text);
    const problems = result.ok
      ? semanticProblems(result.config, {
          ...(values['allowed-images'] !== undefined ? { allowedImages: values['allowed-images'].split(',') } : {}),
          allowPrivileged: values['allow-privileged'] === true,
        })
      : result.problems;
    if (problems.length === 0) io.out(`${file}: valid\n`);
    for (const p of problems) io.out(`${file}: ${p.path}: ${p.message}\n`);
    if (problems.length > 0) bad++;
  }
  return bad > 0 ? EXIT.failed : EXIT.ok;
}
