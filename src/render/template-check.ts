import { Handlebars } from './handlebars-lib.js';
import { LIMITS } from '../config/limits.js';

/**
 * What a template may use, checked when the config is loaded (so `lint`, the loader and `render` refuse the
 * same templates) and again before a template is compiled. Everything here is about the template text alone.
 */

type Kind = 'value' | 'block';
/** Our helpers and the Handlebars built-ins we keep, with how many arguments each takes. */
export const HELPERS: Readonly<Record<string, { readonly kind: Kind; readonly args: number }>> = {
  json: { kind: 'value', args: 1 },
  yaml: { kind: 'value', args: 1 },
  shq: { kind: 'value', args: 1 },
  default: { kind: 'value', args: 2 },
  lower: { kind: 'value', args: 1 },
  upper: { kind: 'value', args: 1 },
  eq: { kind: 'value', args: 2 },
  lookup: { kind: 'value', args: 2 },
  if: { kind: 'block', args: 1 },
  unless: { kind: 'block', args: 1 },
  each: { kind: 'block', args: 1 },
  with: { kind: 'block', args: 1 },
};

/** Names that lead from a value to its prototype or to Function; Handlebars also guards them at run time. */
const FORBIDDEN_NAMES = new Set([
  'constructor',
  '__proto__',
  'prototype',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

/** Handlebars' own helper names a template must not call: `log` writes to the console, the others are internal. */
const RESERVED_NAMES = new Set(['log', 'helperMissing', 'blockHelperMissing']);

const DATA_VARIABLES = new Set(['root', 'index', 'key', 'first', 'last']);

type Node = hbs.AST.Node;
type Call = hbs.AST.MustacheStatement | hbs.AST.BlockStatement | hbs.AST.SubExpression;

const TOKENS: Readonly<Record<string, string>> = {
  CLOSE: '"}}"',
  CLOSE_UNESCAPED: '"}}}"',
  OPEN_SEXPR: '"("',
  CLOSE_SEXPR: '")"',
  ID: 'a name',
  STRING: 'a string',
  NUMBER: 'a number',
  BOOLEAN: 'true or false',
  DATA: 'an @variable',
  SEP: '"." or "/"',
  EQUALS: '"="',
  OPEN_BLOCK_PARAMS: '"as |x|"',
};

/** The parser's message in one line, with the position and what it expected: `line 1, column 7: ...`. */
export function syntaxMessage(raw: string): string {
  const lines = raw.split('\n');
  const head = /^Parse error on line (\d+):$/.exec(lines[0] ?? '');
  if (!head) {
    // Other parser errors end in " - line:column" (column 0-based).
    const tail = /^(.*) - (\d+):(\d+)$/.exec(lines.join(' ').trim());
    return tail ? `line ${tail[2]}, column ${Number(tail[3]) + 1}: ${tail[1]}` : lines.join(' ').trim();
  }
  const column = (lines[2] ?? '').indexOf('^') + 1;
  const got = /got '([^']+)'$/.exec(lines[3] ?? '')?.[1];
  const where = `line ${head[1]}, column ${column}`;
  if (got === 'EOF') return `${where}: the template ends too early (a {{#block}} without its {{/block}}?)`;
  const expected = [
    ...new Set(
      [...(lines[3] ?? '').matchAll(/'([^']+)'/g)].map((m) => TOKENS[m[1] ?? '']).filter((t) => t !== undefined),
    ),
  ];
  const what = got === 'INVALID' ? 'unexpected character' : `unexpected ${TOKENS[got ?? ''] ?? got ?? 'input'}`;
  return `${where}: ${what}${expected.length > 0 ? `, expected ${expected.slice(0, 5).join(' or ')}` : ''}`;
}

function at(node: Node): string {
  return node.loc ? ` (line ${node.loc.start.line}, column ${node.loc.start.column + 1})` : '';
}

function pathProblem(path: hbs.AST.PathExpression): string | undefined {
  const bad = path.parts.find((p) => FORBIDDEN_NAMES.has(p));
  if (bad !== undefined) return `"${path.original}" reaches "${bad}", which templates may not use${at(path)}`;
  if (path.data && !DATA_VARIABLES.has(path.parts[0] ?? '')) {
    return `unknown data variable "@${path.parts[0] ?? ''}" (use @root, @index, @key, @first or @last)${at(path)}`;
  }
  return undefined;
}

function isPath(node: Node): node is hbs.AST.PathExpression {
  return node.type === 'PathExpression';
}

type Helper = (typeof HELPERS)[string];

function hasHashArguments(call: Call): boolean {
  return (call.hash?.pairs.length ?? 0) > 0;
}

/** A helper call, or a plain value / block section (`{{data.x}}`, `{{#data.list}}`). */
function callProblem(call: Call): string | undefined {
  const head = call.path;
  const simple = isPath(head) && !head.data && head.depth === 0 && head.parts.length === 1 ? head.parts[0] : undefined;
  if (simple !== undefined && RESERVED_NAMES.has(simple))
    return `"${simple}" is not a helper templates may use${at(call)}`;
  const helper = simple !== undefined && Object.hasOwn(HELPERS, simple) ? HELPERS[simple] : undefined;
  if (!helper || simple === undefined) return plainProblem(call);
  return helperProblem(call, simple, helper);
}

/** A call of no helper of ours: only a plain value or section, without arguments, may be that. */
function plainProblem(call: Call): string | undefined {
  const head = call.path;
  if ((call.params ?? []).length > 0 || hasHashArguments(call) || call.type === 'SubExpression') {
    const name = isPath(head) ? head.original : String((head as hbs.AST.StringLiteral).original);
    return `unknown helper "${name}"${at(call)} (known: ${Object.keys(HELPERS).join(', ')})`;
  }
  if (!isPath(head)) return `a literal cannot be used as a value here${at(call)}`;
  return undefined;
}

/** A call of one of HELPERS: block or not as it is meant, with exactly its positional arguments. */
function helperProblem(call: Call, name: string, helper: Helper): string | undefined {
  const params = call.params ?? [];
  const isBlock = call.type === 'BlockStatement';
  if (helper.kind === 'block' && !isBlock)
    return `"${name}" is a block helper: write {{#${name} …}}…{{/${name}}}${at(call)}`;
  if (helper.kind === 'value' && isBlock) return `"${name}" is not a block helper${at(call)}`;
  if (hasHashArguments(call)) return `"${name}" takes no key=value arguments${at(call)}`;
  if (params.length !== helper.args) {
    return `"${name}" takes ${helper.args} argument${helper.args === 1 ? '' : 's'}, got ${params.length}${at(call)}`;
  }
  return name === 'lookup' ? lookupProblem(call, params[1]) : undefined;
}

/** `lookup` with a literal key is a path written another way, so it gets the same forbidden names. */
function lookupProblem(call: Call, key: hbs.AST.Expression | undefined): string | undefined {
  if (key?.type === 'StringLiteral' && FORBIDDEN_NAMES.has((key as hbs.AST.StringLiteral).value)) {
    return `lookup of "${(key as hbs.AST.StringLiteral).value}", which templates may not use${at(call)}`;
  }
  return undefined;
}

/** The children of a node, each with its nesting depth: a block's programs and a subexpression go one deeper. */
function children(node: Node, depth: number): Array<[Node, number]> {
  const n = node as Partial<hbs.AST.BlockStatement & hbs.AST.Program>;
  const out: Node[] = [];
  if (node.type === 'Program') out.push(...(n.body ?? []));
  if (node.type === 'BlockStatement' || node.type === 'MustacheStatement' || node.type === 'SubExpression') {
    out.push(n.path as Node, ...(n.params ?? []), ...(n.hash?.pairs ?? []).map((p) => p.value));
  }
  if (node.type === 'BlockStatement') {
    if (n.program) out.push(n.program);
    if (n.inverse) out.push(n.inverse);
  }
  return out.map((c) => [c, c.type === 'Program' || c.type === 'SubExpression' ? depth + 1 : depth]);
}

function nodeProblem(node: Node): string | undefined {
  switch (node.type) {
    case 'PartialStatement':
    case 'PartialBlockStatement':
      return `partials ({{> name}}) are not supported${at(node)}`;
    case 'Decorator':
    case 'DecoratorBlock':
      return `decorators ({{* name}}) are not supported${at(node)}`;
    case 'MustacheStatement':
    case 'BlockStatement':
    case 'SubExpression':
      return callProblem(node as Call);
    case 'PathExpression':
      return pathProblem(node as hbs.AST.PathExpression);
    default:
      return undefined;
  }
}

const parsed = new Map<string, hbs.AST.Program | string>();

/**
 * Parses a template without compiling it (the parser is iterative, so any input is safe to parse), or returns
 * the reason it cannot be used. Results are cached by text: a config repeats its templates, and every load
 * and render checks them.
 */
export function checkedTemplate(template: string): { ast: hbs.AST.Program } | { problem: string } {
  const hit = parsed.get(template);
  if (hit !== undefined) return typeof hit === 'string' ? { problem: hit } : { ast: hit };
  const result = check(template);
  if (parsed.size > 5000) parsed.clear();
  parsed.set(template, 'problem' in result ? result.problem : result.ast);
  return result;
}

function check(template: string): { ast: hbs.AST.Program } | { problem: string } {
  let ast: hbs.AST.Program;
  try {
    ast = Handlebars.parseWithoutProcessing(template);
  } catch (e) {
    return { problem: `template syntax: ${syntaxMessage((e as Error).message)}` };
  }
  // Iterative on purpose: a template is hostile input, and deep recursion over it must not reach the stack limit.
  const stack: Array<[Node, number]> = [[ast, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [Node, number];
    if (depth > LIMITS.templateDepth) {
      return {
        problem: `template: blocks and subexpressions nest deeper than ${LIMITS.templateDepth} levels${at(node)}`,
      };
    }
    const problem = nodeProblem(node);
    if (problem) return { problem: `template: ${problem}` };
    stack.push(...children(node, depth).reverse());
  }
  return { ast };
}

/** True when the text has template syntax; plain strings skip Handlebars entirely. */
export function isTemplate(text: string): boolean {
  return text.includes('{{');
}

/** The reason a template cannot be used, or undefined when it is fine (or is no template at all). */
export function templateProblem(template: string): string | undefined {
  if (!isTemplate(template)) return undefined;
  const result = checkedTemplate(template);
  return 'problem' in result ? result.problem : undefined;
}
