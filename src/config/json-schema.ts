import { z } from 'zod';
import { HELPERS } from '../render/template-check.js';
import { formatBytes, LIMIT_ROWS, LIMITS } from './limits.js';
import { JobConfigSchema } from './schema.js';

/** The JSON Schema editors use (`# yaml-language-server: $schema=...`), generated from the one zod schema. */
export function jobConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(JobConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $id: 'https://job-executor.dev/schema/job-config.v2.json',
    title: 'job/config.yaml (apiVersion v2)',
    ...schema,
  };
}

interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  items?: JsonSchemaNode;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  additionalProperties?: JsonSchemaNode | boolean;
  anyOf?: JsonSchemaNode[];
  maxItems?: number;
}

function typeName(n: JsonSchemaNode): string {
  if (n.enum) return n.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (n.type === 'array')
    return `list of ${n.items ? typeName(n.items) : 'any'}${n.maxItems === undefined ? '' : ` (at most ${n.maxItems})`}`;
  if (n.type === 'object' && n.additionalProperties && typeof n.additionalProperties === 'object') {
    return `map of ${typeName(n.additionalProperties)}`;
  }
  if (Array.isArray(n.type)) return n.type.join(' \\| ');
  return n.type ?? 'any';
}

/** One table row: a field's path, whether it must be given, its type, default and description. */
function referenceRow(parent: JsonSchemaNode, key: string, child: JsonSchemaNode, path: string): string {
  const required = parent.required?.includes(key) && child.default === undefined ? ' (required)' : '';
  const dflt = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
  return `| \`${path}\`${required} | ${typeName(child)} | ${dflt} | ${(child.description ?? '').replace(/\|/g, '\\|')} |`;
}

/** The objects below a field whose fields get rows too: its own, a list's items (`[]`), a map's values (`.*`). */
function nestedObjects(child: JsonSchemaNode, path: string): Array<[JsonSchemaNode, string]> {
  const nested: Array<[JsonSchemaNode, string]> = [];
  if (child.properties) nested.push([child, path]);
  if (child.type === 'array' && child.items?.properties) nested.push([child.items, `${path}[]`]);
  if (
    child.additionalProperties &&
    typeof child.additionalProperties === 'object' &&
    child.additionalProperties.properties
  ) {
    nested.push([child.additionalProperties, `${path}.*`]);
  }
  return nested;
}

/** The field reference (`job-config/REFERENCE.md`), from the same schema. */
export function jobConfigReference(): string {
  const root = jobConfigJsonSchema() as JsonSchemaNode;
  const lines: string[] = [
    '# `job/config.yaml` reference',
    '',
    'Generated from the zod schema in `src/config/schema.ts` by `job-executor schema --markdown`; a test fails when it is stale.',
    'Unknown keys are errors, as in JES. Every string field of a task may be a Handlebars template (`{{data.x}}`).',
    '',
    '| field | type | default | meaning |',
    '| --- | --- | --- | --- |',
  ];
  const walk = (node: JsonSchemaNode, prefix: string): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      lines.push(referenceRow(node, key, child, path));
      for (const [nested, nestedPath] of nestedObjects(child, path)) walk(nested, nestedPath);
    }
  };
  walk(root, '');
  lines.push(
    '',
    '## Limits',
    '',
    'A config over a limit is refused, by `lint` and when it is loaded, naming the path at fault. They are constants',
    '(`src/config/limits.ts`), far above what real configs need.',
    '',
    '| limit | value |',
    '| --- | --- |',
    ...LIMIT_ROWS.map(
      ([name, what]) =>
        `| ${what} | ${/bytes/.test(what) ? formatBytes(LIMITS[name]) : String(LIMITS[name]).replace(/\B(?=(\d{3})+$)/g, ',')} |`,
    ),
    '',
    '## Templates',
    '',
    `Helpers: ${Object.keys(HELPERS)
      .map((h) => `\`${h}\``)
      .join(', ')}; data variables: \`@root\`, \`@index\`, \`@key\`, \`@first\`, \`@last\`.`,
    'Unknown helpers, partials, decorators, `log`, and paths through `constructor`, `__proto__` or `prototype` are refused',
    'when the config is loaded. In `cmd`, `args` and env values, text from the event is escaped for `$(VAR)` expansion',
    '(`$(` becomes `$$(`), so it reaches the task literally, while a `$(VAR)` written in the config expands.',
  );
  return `${lines.join('\n')}\n`;
}
