import Handlebars from 'handlebars';
import yaml from 'js-yaml';
import { JobExecutorError } from '../errors.js';

/**
 * An isolated Handlebars environment: no HTML escaping (task fields are commands, not HTML) and strict mode,
 * so a missing value is an error that names the template and the path instead of an empty string.
 */
const hbs = Handlebars.create();

/** POSIX shell single-quoting: the result is one word whatever the value holds. */
export function shellQuote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Handlebars passes an options hash as the last argument of every helper call. */
function args(values: unknown[]): unknown[] {
  return values.slice(0, -1);
}

hbs.registerHelper('json', (...values: unknown[]) => JSON.stringify(args(values)[0] ?? null));
hbs.registerHelper('yaml', (...values: unknown[]) => yaml.dump(args(values)[0] ?? null, { lineWidth: -1 }).trimEnd());
hbs.registerHelper('shq', (...values: unknown[]) => shellQuote(String(args(values)[0] ?? '')));
hbs.registerHelper('default', (...values: unknown[]) => {
  const [value, fallback] = args(values);
  return value === undefined || value === null || value === '' ? fallback : value;
});
hbs.registerHelper('lower', (...values: unknown[]) => String(args(values)[0] ?? '').toLowerCase());
hbs.registerHelper('upper', (...values: unknown[]) => String(args(values)[0] ?? '').toUpperCase());
hbs.registerHelper('eq', (...values: unknown[]) => {
  const [a, b] = args(values);
  return a === b;
});

type Compiled = (context: unknown) => string;
const compiled = new Map<string, Compiled>();

function compile(template: string): Compiled {
  let fn = compiled.get(template);
  if (!fn) {
    fn = hbs.compile(template, { noEscape: true, strict: true }) as Compiled;
    if (compiled.size > 5000) compiled.clear();
    compiled.set(template, fn);
  }
  return fn;
}

/** Finds the dotted path of the expression at line:column, to name what was missing. */
function pathAt(template: string, line: number, column: number): string | undefined {
  let found: string | undefined;
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object' || found) return;
    const n = node as { type?: string; original?: string; loc?: { start: { line: number; column: number } } };
    if (n.type === 'PathExpression' && n.loc && n.loc.start.line === line && n.loc.start.column === column) {
      found = n.original;
      return;
    }
    for (const child of Object.values(node)) {
      if (Array.isArray(child)) child.forEach(visit);
      else if (child && typeof child === 'object') visit(child);
    }
  };
  try {
    visit(hbs.parse(template));
  } catch {
    return undefined;
  }
  return found;
}

/** True when the text has template syntax; plain strings skip Handlebars entirely. */
export function isTemplate(text: string): boolean {
  return text.includes('{{');
}

/** Syntax check only, for `lint`. Returns the parser's message, or undefined when the template is fine. */
export function templateSyntaxError(template: string): string | undefined {
  if (!isTemplate(template)) return undefined;
  try {
    hbs.precompile(template, { strict: true });
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/**
 * Renders one field. `field` names it in errors (e.g. `actions[0].tasks[1].args[2]`). Throws TEMPLATE_ERROR.
 */
export function renderTemplate(template: string, context: object, field: string): string {
  if (!isTemplate(template)) return template;
  try {
    return compile(template)(context);
  } catch (e) {
    const err = e as Error & { lineNumber?: number; column?: number };
    const strict = /^"(.+)" not defined in/.exec(err.message);
    if (strict && err.lineNumber !== undefined && err.column !== undefined) {
      const missing = pathAt(template, err.lineNumber, err.column) ?? strict[1];
      throw new JobExecutorError(
        'TEMPLATE_ERROR',
        `${field}: template "${template}" refers to ${missing}, which the event does not have`,
      );
    }
    throw new JobExecutorError('TEMPLATE_ERROR', `${field}: template "${template}" failed: ${err.message.split('\n')[0]}`);
  }
}
