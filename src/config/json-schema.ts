import { z } from 'zod';
import { JobConfigSchema } from './schema.js';

/** The JSON Schema editors use (`# yaml-language-server: $schema=...`), generated from the one zod schema. */
export function jobConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(JobConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { $id: 'https://job-executor.dev/schema/job-config.v2.json', title: 'job/config.yaml (apiVersion v2)', ...schema };
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
}

function typeName(n: JsonSchemaNode): string {
  if (n.enum) return n.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (n.type === 'array') return `list of ${n.items ? typeName(n.items) : 'any'}`;
  if (n.type === 'object' && n.additionalProperties && typeof n.additionalProperties === 'object') {
    return `map of ${typeName(n.additionalProperties)}`;
  }
  if (Array.isArray(n.type)) return n.type.join(' \\| ');
  return n.type ?? 'any';
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
      const required = node.required?.includes(key) && child.default === undefined ? ' (required)' : '';
      const dflt = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
      lines.push(`| \`${path}\`${required} | ${typeName(child)} | ${dflt} | ${(child.description ?? '').replace(/\|/g, '\\|')} |`);
      if (child.properties) walk(child, path);
      if (child.type === 'array' && child.items?.properties) walk(child.items, `${path}[]`);
      if (child.additionalProperties && typeof child.additionalProperties === 'object' && child.additionalProperties.properties) {
        walk(child.additionalProperties, `${path}.*`);
      }
    }
  };
  walk(root, '');
  return `${lines.join('\n')}\n`;
}
