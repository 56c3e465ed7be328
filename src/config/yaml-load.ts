import {
  Composer,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  Parser,
  type Alias,
  type CST,
  type Document,
  type Node,
  type YAMLMap,
} from 'yaml';
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

/**
 * `['actions', 0, 'tasks']` → `actions[0].tasks`. A key that is not a plain name (`a b`, `vault.io/x`, a
 * control character) is quoted as JSON, `annotations["vault.io/x"]`, so a path is one unambiguous word.
 */
export function formatYamlPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (!/^[A-Za-z_$][\w$-]*$/.test(String(part))) out += `[${JSON.stringify(String(part))}]`;
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

/** Far above the real limit: the quick scan below only has to catch the absurd cases early, never a real config. */
const QUICK_DEPTH = 256;

/**
 * A linear scan for nesting so deep that even the parser would be slow on it (a 128 kB `[[[[…` or
 * `- - - …` takes it most of a second): flow brackets outside quotes and comments, and `- `/`? ` indicators
 * in a row at the start of a line. It over- or under-counts odd text a little, which is fine so far above the
 * real limit; the exact check runs on the parser's tokens. Returns the offset where it went too deep.
 */
function quickDepth(text: string): number | undefined {
  const scan = new QuickDepthScan(text);
  for (let i = 0; i < text.length; i++) {
    const next = scan.step(i);
    if (next === TOO_DEEP) return i;
    i = next;
  }
  return undefined;
}

/** What QuickDepthScan.step answers when the nesting at the character is past QUICK_DEPTH (never an index). */
const TOO_DEEP = -1;

/** The quick scan's state between characters; each step returns the index it has consumed up to. */
class QuickDepthScan {
  private depth = 0;
  private quote = '';
  private lineStart = true;
  private indicators = 0;

  constructor(private readonly text: string) {}

  step(i: number): number {
    const c = this.text[i] as string;
    if (this.quote) return this.inQuote(i, c);
    if (c === '\n') {
      this.lineStart = true;
      this.indicators = 0;
      return i;
    }
    if (this.lineStart) {
      const consumed = this.atLineStart(i, c);
      if (consumed !== undefined) return consumed;
    }
    return this.inLine(i, c);
  }

  private inQuote(i: number, c: string): number {
    if (c === '\\' && this.quote === '"') return i + 1;
    if (c === this.quote) this.quote = '';
    return i;
  }

  /** Indentation and `- `/`? ` indicators before a line's content; undefined once the content starts. */
  private atLineStart(i: number, c: string): number | undefined {
    if (c === ' ' || c === '\t') return i;
    const after = this.text[i + 1];
    if ((c === '-' || c === '?') && (after === ' ' || after === '\t')) {
      return ++this.indicators > QUICK_DEPTH ? TOO_DEEP : i + 1;
    }
    this.lineStart = false;
    return undefined;
  }

  private inLine(i: number, c: string): number {
    if (c === '"' || c === "'") this.quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(this.text[i - 1] as string))) {
      const end = this.text.indexOf('\n', i);
      return (end === -1 ? this.text.length : end) - 1;
    } else if (c === '[' || c === '{') {
      if (++this.depth > QUICK_DEPTH) return TOO_DEEP;
    } else if ((c === ']' || c === '}') && this.depth > 0) this.depth--;
    return i;
  }
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
  return new ExpansionWalk(doc, at).run();
}

/** The walk of expansionProblem, iterative (a deep document must not reach the stack limit). */
class ExpansionWalk {
  private readonly anchors = new Map<string, Node>();
  private readonly sizes = new Map<unknown, number>();
  private readonly open = new Set<unknown>();
  private count = 0;
  private readonly stack: Frame[];

  constructor(
    doc: Document,
    private readonly at: (offset: number) => Position,
  ) {
    this.stack = [{ node: doc.contents, path: [] }];
  }

  run(): YamlProblem | undefined {
    while (this.stack.length > 0) {
      const problem = this.visit(this.stack.pop() as Frame);
      if (problem) return problem;
    }
    return undefined;
  }

  private problem(node: unknown, path: YamlPath, message: string): YamlProblem {
    const range = (node as { range?: [number, number] } | null)?.range;
    return { path: formatYamlPath(path), message, ...(range ? this.at(range[0]) : {}) };
  }

  private visit(frame: Frame): YamlProblem | undefined {
    const { node, path } = frame;
    if (frame.enteredAt !== undefined) {
      this.open.delete(node);
      this.sizes.set(node, this.count - frame.enteredAt);
      return undefined;
    }
    if (node === null || node === undefined) return undefined;
    const problem = isAlias(node) ? this.alias(node, path) : this.value(node, path);
    if (problem) return problem;
    if (this.count > LIMITS.yamlNodes) {
      const alias = isAlias(node) ? ` (at the alias *${node.source})` : '';
      return this.problem(
        node,
        path,
        `the document expands to more than ${LIMITS.yamlNodes} values${alias}: too much aliasing, or too large`,
      );
    }
    return undefined;
  }

  /** An alias costs the expanded size of its anchor, measured when the anchor was left. */
  private alias(node: Alias, path: YamlPath): YamlProblem | undefined {
    const target = this.anchors.get(node.source);
    if (target === undefined) return undefined; // the composer reports the unknown alias
    if (this.open.has(target))
      return this.problem(node, path, `the alias *${node.source} is inside its own anchor (a cycle)`);
    this.count += this.sizes.get(target) ?? 0;
    return undefined;
  }

  private value(node: unknown, path: YamlPath): YamlProblem | undefined {
    this.count++;
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) {
      this.anchors.set(anchor, node as Node);
      this.open.add(node);
      this.stack.push({ node, path, enteredAt: this.count - 1 });
    }
    if (isMap(node)) return this.duplicateKey(node, path) ?? this.enterMap(node, path);
    if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) this.stack.push({ node: node.items[i], path: [...path, i] });
    }
    return undefined;
  }

  /** Duplicate keys are found here with a set: the library's own check compares every pair of keys. */
  private duplicateKey(node: YAMLMap, path: YamlPath): YamlProblem | undefined {
    const keys = new Set<string>();
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      if (keys.has(key))
        return {
          ...this.problem(pair.key, path, 'invalid YAML: map keys must be unique'),
          path: formatYamlPath([...path, key]),
        };
      keys.add(key);
    }
    return undefined;
  }

  /** Pushes a map's keys and values, the first pair on top; refuses a key that is a list or a map. */
  private enterMap(node: YAMLMap, path: YamlPath): YamlProblem | undefined {
    for (let i = node.items.length - 1; i >= 0; i--) {
      const pair = node.items[i];
      if (!isPair(pair)) continue;
      if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key)) {
        return this.problem(pair.key, path, 'a key must be a plain value, not a list or a map');
      }
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      this.stack.push({ node: pair.value, path: [...path, key] }, { node: pair.key, path });
    }
    return undefined;
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

type YamlResult = { ok: true; yaml: LoadedYaml } | { ok: false; problems: YamlProblem[] };

/** The checks that need no parsing: size, and nesting the quick scan can see. */
function precheck(text: string): YamlProblem | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > LIMITS.configBytes) {
    return {
      path: '(root)',
      message: `the file is ${bytes} bytes, more than the limit of ${formatBytes(LIMITS.configBytes)}`,
    };
  }
  const quick = quickDepth(text);
  if (quick === undefined) return undefined;
  const before = text.slice(0, quick);
  const p = { line: before.split('\n').length, column: quick - before.lastIndexOf('\n') };
  return {
    path: `line ${p.line}, column ${p.column}`,
    message: `invalid YAML: nested deeper than ${LIMITS.yamlDepth} levels`,
    ...p,
  };
}

/** Pieces of about this many bytes, cut after a newline, are parsed between two turns of the event loop. */
const CHUNK_BYTES = 8 * 1024;

function lineChunks(text: string, bytes: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length;) {
    const nl = text.indexOf('\n', at + bytes);
    const end = nl === -1 ? text.length : nl + 1;
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

/**
 * Parses one YAML document (YAML 1.2 core schema, `<<` merge keys allowed) into plain data, within the limits:
 * file size, nesting depth, and size after alias expansion. Never throws for bad input.
 */
export function loadYaml(text: string): YamlResult {
  const early = precheck(text);
  if (early) return { ok: false, problems: [early] };
  const lines = new LineCounter();
  return compose(text, [...new Parser(lines.addNewLine).parse(text)], lines);
}

/**
 * loadYaml for the service: the same result, but the text is parsed in line-aligned pieces with a turn of
 * the event loop between them, so a large config does not hold up events for the whole parse. (Fed whole
 * lines, the streaming parser gives exactly the tokens of a single parse.)
 */
export async function loadYamlAsync(text: string, signal?: AbortSignal, chunkBytes = CHUNK_BYTES): Promise<YamlResult> {
  const early = precheck(text);
  if (early) return { ok: false, problems: [early] };
  const lines = new LineCounter();
  const parser = new Parser(lines.addNewLine);
  const tokens: CST.Token[] = [];
  const chunks = lineChunks(text, chunkBytes);
  for (let i = 0; i < chunks.length; i++) {
    if (i > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
    }
    for (const token of parser.parse(chunks[i] as string, i < chunks.length - 1)) tokens.push(token);
  }
  if (chunks.length === 0) tokens.push(...parser.parse('', false));
  return compose(text, tokens, lines);
}

function compose(text: string, tokens: CST.Token[], lines: LineCounter): YamlResult {
  const at = (offset: number): Position => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const fail = (offset: number, message: string) => {
    const p = at(offset);
    return { ok: false as const, problems: [{ path: `line ${p.line}, column ${p.column}`, message, ...p }] };
  };
  // The parser is iterative and safe on any input; composing waits until the depth is known to be sane.
  const deep = tooDeep(tokens);
  if (deep !== undefined) return fail(deep, `invalid YAML: nested deeper than ${LIMITS.yamlDepth} levels`);
  const docs = [
    ...new Composer({ merge: true, uniqueKeys: false, logLevel: 'error', version: '1.2' }).compose(
      tokens,
      true,
      text.length,
    ),
  ];
  const doc = docs[0] as Document;
  if (docs.length > 1)
    return fail(
      (docs[1] as Document).range?.[0] ?? 0,
      'invalid YAML: the file holds more than one document (remove the second "---")',
    );
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
  // Key positions of a map, indexed once: a config with many bad keys must not cost a scan per key.
  const keyIndex = new Map<unknown, Map<string, number>>();
  const keyOffset = (map: unknown, key: string): number | undefined => {
    if (!isMap(map)) return undefined;
    let index = keyIndex.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        const range = (p.key as { range?: [number, number] } | null)?.range;
        if (isScalar(p.key) && range && !index.has(String(p.key.value))) index.set(String(p.key.value), range[0]);
      }
      keyIndex.set(map, index);
    }
    return index.get(key);
  };
  const position = (path: YamlPath, options: { key?: boolean } = {}): Position | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const prefix = path.slice(0, n);
      if (options.key && n === path.length && n > 0) {
        const offset = keyOffset(
          n === 1 ? doc.contents : doc.getIn(prefix.slice(0, -1), true),
          String(prefix[prefix.length - 1]),
        );
        if (offset !== undefined) return at(offset);
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
