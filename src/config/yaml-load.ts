import { Composer, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Parser, type CST, type Document, type Node } from 'yaml';
import { formatBytes, LIMITS } from './limits.js';

/** A problem with where it is: the document path when known, and the 1-based line and column. */
export interface YamlProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

export type YamlPath = ReadonlyArray<string | number>;

export interface LoadedYaml {
  readonly value: unknown;
  /** Line and column (1-based) of the node at a document path, or of the nearest enclosing node. */
  readonly position: (path: YamlPath, options?: { key?: boolean }) => { line: number; column: number } | undefined;
}

/** `['actions', 0, 'tasks']` → `actions[0].tasks`. */
export function formatYamlPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

type Position = { line: number; column: number };

/**
 * Nesting depth of the token tree, measured without recursion: the composer and `toJS` recurse, and on a
 * deeply nested input they would reach the stack limit (where V8 may even abort the process instead of
 * throwing), so depth is checked first on the parser's tokens.
 */
function tooDeep(tokens: readonly CST.Token[]): number | undefined {
  const stack: Array<[CST.Token | null | undefined, number]> = tokens.map((t) => [t, 0]);
  while (stack.length > 0) {
    const [token, depth] = stack.pop() as [CST.Token | null | undefined, number];
    if (!token) continue;
    if (token.type === 'document') stack.push([token.value, depth]);
    if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > LIMITS.yamlDepth) return token.offset;
      for (const item of token.items) {
        const entry = item as { key?: CST.Token | null; value?: CST.Token };
        stack.push([entry.key, depth + 1], [entry.value, depth + 1]);
      }
    }
  }
  return undefined;
}

interface Frame {
  readonly node: unknown;
  readonly path: YamlPath;
  /** Set on the exit frame of an anchored node: the count when it was entered. */
  readonly enteredAt?: number;
}

/**
 * The number of nodes once every alias is expanded, in one pass: an anchored node's expanded size is
 * remembered, so an alias costs its target's size without walking it again. Refuses what the limits do not
 * allow, naming the place: too many nodes (an alias "bomb"), an alias inside its own anchor (a cycle), a key
 * that is not a plain value.
 */
function expansionProblem(doc: Document, at: (offset: number) => Position): YamlProblem | undefined {
  const anchors = new Map<string, Node>();
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  let count = 0;
  const stack: Frame[] = [{ node: doc.contents, path: [] }];
  const problem = (node: unknown, path: YamlPath, message: string): YamlProblem => {
    const range = (node as { range?: [number, number] } | null)?.range;
    return { path: formatYamlPath(path), message, ...(range ? at(range[0]) : {}) };
  };
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const { node, path } = frame;
    if (frame.enteredAt !== undefined) {
      open.delete(node);
      sizes.set(node, count - frame.enteredAt);
      continue;
    }
    if (node === null || node === undefined) continue;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) continue; // the composer reports the unknown alias
      if (open.has(target)) return problem(node, path, `the alias *${node.source} is inside its own anchor (a cycle)`);
      count += sizes.get(target) ?? 0;
    } else {
      count++;
      const anchor = (node as { anchor?: string }).anchor;
      if (anchor) {
        anchors.set(anchor, node as Node);
        open.add(node);
        stack.push({ node, path, enteredAt: count - 1 });
      }
      if (isMap(node)) {
        for (let i = node.items.length - 1; i >= 0; i--) {
          const pair = node.items[i];
          if (!isPair(pair)) continue;
          if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key)) {
            return problem(pair.key, path, 'a key must be a plain value, not a list or a map');
          }
          const key = isScalar(pair.key) ? String(pair.key.value) : '';
          stack.push({ node: pair.value, path: [...path, key] }, { node: pair.key, path });
        }
      } else if (isSeq(node)) {
        for (let i = node.items.length - 1; i >= 0; i--) stack.push({ node: node.items[i], path: [...path, i] });
      }
    }
    if (count > LIMITS.yamlNodes) {
      const alias = isAlias(node) ? ` (at the alias *${node.source})` : '';
      return problem(node, path, `the document expands to more than ${LIMITS.yamlNodes} values${alias}: too much aliasing, or too large`);
    }
  }
  return undefined;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * Parses one YAML document (YAML 1.2 core schema, `<<` merge keys allowed) into plain data, within the limits:
 * file size, nesting depth, and size after alias expansion. Never throws for bad input.
 */
export function loadYaml(text: string): { ok: true; yaml: LoadedYaml } | { ok: false; problems: YamlProblem[] } {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > LIMITS.configBytes) {
    return { ok: false, problems: [{ path: '(root)', message: `the file is ${bytes} bytes, more than the limit of ${formatBytes(LIMITS.configBytes)}` }] };
  }
  const lines = new LineCounter();
  const at = (offset: number): Position => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const fail = (offset: number, message: string) => {
    const p = at(offset);
    return { ok: false as const, problems: [{ path: `line ${p.line}, column ${p.column}`, message, ...p }] };
  };
  // The parser is iterative and safe on any input; composing waits until the depth is known to be sane.
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  const deep = tooDeep(tokens);
  if (deep !== undefined) return fail(deep, `invalid YAML: nested deeper than ${LIMITS.yamlDepth} levels`);
  const docs = [...new Composer({ merge: true, uniqueKeys: true, logLevel: 'error', version: '1.2' }).compose(tokens, true, text.length)];
  const doc = docs[0] as Document;
  if (docs.length > 1) return fail((docs[1] as Document).range?.[0] ?? 0, 'invalid YAML: the file holds more than one document (remove the second "---")');
  const first = doc.errors[0] ?? doc.warnings[0];
  if (first) return fail(first.pos[0] ?? 0, `invalid YAML: ${lowerFirst(first.message.split('\n')[0] ?? '')}`);
  const expansion = expansionProblem(doc, at);
  if (expansion) return { ok: false, problems: [expansion] };
  let value: unknown;
  try {
    // The expansion was measured above, so the library's own alias heuristic is not needed.
    value = doc.toJS({ maxAliasCount: -1 });
  } catch (e) {
    return { ok: false, problems: [{ path: '(root)', message: `invalid YAML: ${(e as Error).message}` }] };
  }
  const position = (path: YamlPath, options: { key?: boolean } = {}): Position | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const prefix = path.slice(0, n);
      if (options.key && n === path.length && n > 0) {
        const parent = doc.getIn(prefix.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(prefix[prefix.length - 1]));
          const range = (pair?.key as { range?: [number, number] } | undefined)?.range;
          if (range) return at(range[0]);
        }
        continue;
      }
      const node = n === 0 ? doc.contents : doc.getIn(prefix, true);
      const range = (node as { range?: [number, number] } | null | undefined)?.range;
      if (range) return at(range[0]);
    }
    return undefined;
  };
  return { ok: true, yaml: { value, position } };
}
