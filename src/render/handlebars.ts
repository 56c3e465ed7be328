import { Handlebars } from './handlebars-lib.js';
import { jsYaml } from './js-yaml-lib.js';
import { LIMITS } from '../config/limits.js';
import { JobExecutorError } from '../errors.js';
import { checkedTemplate, HELPERS, isTemplate } from './template-check.js';

/** The reason a template cannot be used (syntax, helpers, paths), or undefined: what `lint` and the loader check. */
export { isTemplate, templateProblem } from './template-check.js';

/**
 * An isolated Handlebars environment: no HTML escaping (task fields are commands, not HTML) and strict mode,
 * so a missing value is an error that names the template and the path instead of an empty string.
 * Only the helpers in HELPERS exist for templates (checked at load, and enforced by `knownHelpersOnly`);
 * Handlebars' prototype-access protection stays on (never pass `allowProto*` options).
 */
const hbs = Handlebars.create();
// `log` would write raw lines into the service's JSON log; nothing in a template may log.
hbs.unregisterHelper('log');
// Handlebars reports denied prototype access through console.error; a template's lookups must not write to
// the service's stdout/stderr (which carry the JSON log). The logger is Handlebars' shared one.
(hbs.logger as { level: unknown }).level = 'silent';

/** POSIX shell single-quoting: the result is one word whatever the value holds. */
export function shellQuote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * What one run may still render, in characters. Renders are synchronous, so the budget of the render in
 * progress is module state: helpers and loops charge it as they produce output, before it can pile up.
 */
export class RenderBudget {
  constructor(public remaining: number = LIMITS.renderedRunChars) {}

  charge(chars: number): void {
    this.remaining -= chars;
    if (this.remaining < 0) {
      throw new BudgetExceeded(
        `the run renders more than ${LIMITS.renderedRunChars} characters of text (templates and event values)`,
      );
    }
  }
}

class BudgetExceeded extends Error {}

let active: RenderBudget | undefined;
const charge = (chars: number) => active?.charge(chars);

/** A loop iteration costs at least this much, so loops that output nothing are bounded too. */
const ITERATION_COST = 16;

/** Handlebars passes an options hash as the last argument of every helper call. */
function args(values: unknown[]): unknown[] {
  return values.slice(0, -1);
}

function charged(out: string): string {
  charge(out.length);
  return out;
}

hbs.registerHelper('json', (...values: unknown[]) => charged(JSON.stringify(args(values)[0] ?? null) ?? 'null'));
hbs.registerHelper('yaml', (...values: unknown[]) =>
  charged(
    jsYaml()
      .dump(args(values)[0] ?? null, { lineWidth: -1 })
      .trimEnd(),
  ),
);
hbs.registerHelper('shq', (...values: unknown[]) => charged(shellQuote(String(args(values)[0] ?? ''))));
hbs.registerHelper('default', (...values: unknown[]) => {
  const [value, fallback] = args(values);
  return value === undefined || value === null || value === '' ? fallback : value;
});
hbs.registerHelper('lower', (...values: unknown[]) => charged(String(args(values)[0] ?? '').toLowerCase()));
hbs.registerHelper('upper', (...values: unknown[]) => charged(String(args(values)[0] ?? '').toUpperCase()));
hbs.registerHelper('eq', (...values: unknown[]) => {
  const [a, b] = args(values);
  return a === b;
});

type BlockFn = (context: unknown, options?: unknown) => string;
interface BlockOptions {
  fn: BlockFn;
  [key: string]: unknown;
}
const builtinEach = hbs.helpers.each as (this: unknown, context: unknown, options: BlockOptions) => string;
// `each` (and block sections over lists, which Handlebars runs through `each`) charges every iteration, so a
// loop over a large event list, or loops inside loops, cannot run for long.
hbs.registerHelper('each', function (this: unknown, context: unknown, options: BlockOptions) {
  const fn = options.fn;
  const counted = Object.assign((ctx: unknown, opts?: unknown) => {
    const out = fn(ctx, opts);
    charge(Math.max(out.length, ITERATION_COST));
    return out;
  }, fn);
  return builtinEach.call(this, context, { ...options, fn: counted });
});

const KNOWN_HELPERS: Record<string, boolean> = { helperMissing: false, blockHelperMissing: false, log: false };
for (const name of Object.keys(HELPERS)) KNOWN_HELPERS[name] = true;

/**
 * How a field's text is used. `expanded`: Kubernetes expands `$(VAR)` in it (cmd, args, env values), so the
 * context holds escaped event text and a config `$` right before inserted text is doubled (see below).
 * `plain`: the text is used as it is (names, image, workingDir, ...).
 */
export type FieldKind = 'plain' | 'expanded';

type Compiled = (context: unknown) => string;
const compiled = new Map<string, Compiled>();

/**
 * Where a piece of a config's literal text would reach into what a mustache inserts after it: a lone `$`
 * at its end (`${{data.x}}` with x = `(API_KEY)` makes `$(API_KEY)`), or a `$(` left open (`$({{data.x}})`
 * would let the event choose the variable). Returns the indexes of those `$`. Same scan as expandVars.
 */
function openReferences(text: string): number[] {
  const open: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$') continue;
    if (i + 1 >= text.length) open.push(i);
    else if (text[i + 1] === '$') i++;
    else if (text[i + 1] === '(') {
      const close = text.indexOf(')', i + 2);
      if (close === -1) open.push(i++);
      else i = close;
    }
  }
  return open;
}

/**
 * In an expanded field, doubles the `$` of each such open reference (`$$` is one `$` to Kubernetes), so the
 * config's text means what it says on its own and inserted text cannot complete a reference. Only the last
 * piece of the whole template is followed by nothing and stays as written.
 */
function guardDollars(ast: hbs.AST.Program): hbs.AST.Program {
  const copy = structuredClone(ast);
  const stack: hbs.AST.Node[] = [copy];
  const last = copy.body[copy.body.length - 1];
  while (stack.length > 0) {
    const node = stack.pop() as hbs.AST.Node;
    if (node.type === 'ContentStatement' && node !== last) {
      const content = node as hbs.AST.ContentStatement;
      // From the end, so earlier indexes stay right.
      for (const at of openReferences(content.value).reverse())
        content.value = `${content.value.slice(0, at)}$${content.value.slice(at)}`;
    }
    const n = node as Partial<hbs.AST.BlockStatement & hbs.AST.Program>;
    if (n.body) stack.push(...n.body);
    if (n.program) stack.push(n.program);
    if (n.inverse) stack.push(n.inverse);
  }
  return copy;
}

function compile(template: string, kind: FieldKind): Compiled {
  const key = `${kind}\u0000${template}`;
  let fn = compiled.get(key);
  if (fn) return fn;
  const checked = checkedTemplate(template);
  if ('problem' in checked) throw new TemplateRefused(checked.problem);
  // Handlebars' `parse` strips whitespace around `{{~ }}`; the checked tree is unprocessed, so parse again.
  let ast = hbs.parse(template);
  if (kind === 'expanded') ast = guardDollars(ast);
  fn = hbs.compile(ast, {
    noEscape: true,
    strict: true,
    knownHelpersOnly: true,
    knownHelpers: KNOWN_HELPERS,
  }) as Compiled;
  if (compiled.size > 5000) compiled.clear();
  compiled.set(key, fn);
  return fn;
}

class TemplateRefused extends Error {}

/** Finds the dotted path of the expression at line:column, to name what was missing. */
function pathAt(template: string, line: number, column: number): string | undefined {
  const checked = checkedTemplate(template);
  if ('problem' in checked) return undefined;
  const stack: unknown[] = [checked.ast];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!node || typeof node !== 'object') continue;
    const n = node as { type?: string; original?: string; loc?: { start: { line: number; column: number } } };
    if (n.type === 'PathExpression' && n.loc && n.loc.start.line === line && n.loc.start.column === column)
      return n.original;
    for (const [k, child] of Object.entries(node)) {
      if (k === 'loc') continue;
      if (Array.isArray(child)) stack.push(...child);
      else if (child && typeof child === 'object') stack.push(child);
    }
  }
  return undefined;
}

function renderError(e: unknown, template: string, field: string): JobExecutorError {
  if (e instanceof JobExecutorError) return e;
  if (e instanceof TemplateRefused)
    return new JobExecutorError('TEMPLATE_ERROR', `${field}: template "${template}" cannot be used: ${e.message}`);
  if (e instanceof BudgetExceeded) return new JobExecutorError('TEMPLATE_ERROR', `${field}: ${e.message}`);
  const err = e as Error & { lineNumber?: number; column?: number };
  const strict = /^"(.+)" not defined in/.exec(err.message ?? '');
  if (strict && err.lineNumber !== undefined && err.column !== undefined) {
    const missing = pathAt(template, err.lineNumber, err.column) ?? strict[1];
    return new JobExecutorError(
      'TEMPLATE_ERROR',
      `${field}: template "${template}" refers to ${missing}, which the event does not have`,
    );
  }
  return new JobExecutorError(
    'TEMPLATE_ERROR',
    `${field}: template "${template}" failed: ${String(err.message ?? e).split('\n')[0]}`,
  );
}

/**
 * Renders one field. `field` names it in errors (e.g. `actions[0].tasks[1].args[2]`). Throws TEMPLATE_ERROR.
 * `budget` is the run's; `kind` says whether Kubernetes will expand `$(VAR)` in the result.
 */
export function renderTemplate(
  template: string,
  context: object,
  field: string,
  options: { readonly budget?: RenderBudget; readonly kind?: FieldKind } = {},
): string {
  const budget = options.budget ?? new RenderBudget();
  if (!isTemplate(template)) {
    budget.charge(template.length);
    return template;
  }
  const outer = active;
  active = budget;
  try {
    const out = compile(template, options.kind ?? 'plain')(context);
    budget.charge(out.length);
    return out;
  } catch (e) {
    throw renderError(e, template, field);
  } finally {
    active = outer;
  }
}
