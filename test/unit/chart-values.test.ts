import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/settings/settings.js';

/**
 * The chart, statically (no helm, no Go): every value in values.yaml is referenced by a template, every
 * reference names a value, values.schema.json describes every value (and nothing else) with its type and
 * refuses unknown keys, and every variable the chart sets on the service is a setting the service reads.
 * The cluster suite (test/cluster/deploy.test.ts) adds the rendered proof: changing any value changes the output.
 */
const CHART = path.resolve(import.meta.dirname, '../../deploy/helm/job-executor');
const values = yaml.load(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as Schema;
const templates = readdirSync(path.join(CHART, 'templates'))
  .filter((f) => /\.(ya?ml|tpl|txt)$/.test(f))
  .map((f) => ({ file: f, text: readFileSync(path.join(CHART, 'templates', f), 'utf8') }));

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  required?: string[];
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Leaves: scalars, lists and empty maps (a map a user fills, like podAnnotations). */
function leaves(v: unknown, prefix: string[] = []): Array<{ path: string[]; value: unknown }> {
  if (isMap(v) && Object.keys(v).length > 0) return Object.entries(v).flatMap(([k, c]) => leaves(c, [...prefix, k]));
  return [{ path: prefix, value: v }];
}

/** `.Values.a.b` references anywhere in the templates (also `$root.Values.a.b`). */
const references = new Set<string>();
for (const t of templates)
  for (const m of t.text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) references.add((m[1] ?? '').slice(1));

function schemaAt(p: string[]): Schema | undefined {
  let s: Schema | undefined = schema;
  for (const key of p) {
    if (!s) return undefined;
    if (s.properties && key in s.properties) s = s.properties[key];
    else if (isMap(s.additionalProperties)) s = s.additionalProperties;
    else return undefined;
  }
  return s;
}

function types(s: Schema): string[] {
  if (s.anyOf) return s.anyOf.flatMap(types);
  return s.type ? [s.type] : [];
}

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v === 'object' ? 'object' : typeof v;
}

describe('Helm chart values', () => {
  const all = leaves(values);

  it('has values to check', () => {
    expect(all.length).toBeGreaterThan(50);
    expect(references.size).toBeGreaterThan(30);
  });

  it('every value is used by a template (itself or a map/list above it)', () => {
    const unused = all
      .map((l) => l.path)
      .filter((p) => !p.some((_, i) => references.has(p.slice(0, i + 1).join('.'))))
      .map((p) => p.join('.'));
    expect(unused, 'values that no template reads: remove them or wire them').toEqual([]);
  });

  it('every template reference names a value in values.yaml', () => {
    const missing = [...references].filter((r) => {
      let v: unknown = values;
      for (const k of r.split('.')) {
        if (!isMap(v) || !(k in v)) return true;
        v = v[k];
      }
      return false;
    });
    expect(missing, 'templates read values that values.yaml does not define').toEqual([]);
  });

  it('values.schema.json covers every value with its type', () => {
    const problems: string[] = [];
    for (const l of all) {
      const s = schemaAt(l.path);
      if (!s) problems.push(`${l.path.join('.')}: not in the schema`);
      else if (!types(s).includes(typeOf(l.value)) && !(typeOf(l.value) === 'integer' && types(s).includes('number'))) {
        problems.push(
          `${l.path.join('.')}: ${typeOf(l.value)} in values.yaml, schema says ${types(s).join('|') || 'nothing'}`,
        );
      }
    }
    expect(problems).toEqual([]);
  });

  it('the schema refuses unknown keys, and describes no value that does not exist', () => {
    const problems: string[] = [];
    const walk = (s: Schema, v: unknown, at: string[]) => {
      for (const alt of s.anyOf ?? []) walk(alt, v, at);
      if (!s.properties) return;
      if (s.additionalProperties !== false)
        problems.push(`${at.join('.') || '(top)'}: additionalProperties is not false`);
      // Passthrough Kubernetes objects (securityContext, resources, affinity) may list fields values.yaml leaves out.
      const passthrough =
        ['podSecurityContext', 'securityContext', 'affinity', 'resources'].includes(at[at.length - 1] ?? '') ||
        at.includes('securityContext') ||
        at.includes('podSecurityContext');
      for (const [k, child] of Object.entries(s.properties)) {
        const cv = isMap(v) ? v[k] : undefined;
        if (cv === undefined && !passthrough && !at.includes('ingressFrom'))
          problems.push(`${[...at, k].join('.')}: in the schema, not in values.yaml`);
        walk(child, cv, [...at, k]);
      }
    };
    walk(schema, values, []);
    expect(problems).toEqual([]);
  });

  it('sets only environment variables the service reads (plus TMPDIR)', () => {
    const deployment = templates.find((t) => t.file === 'deployment.yaml')?.text ?? '';
    const service = deployment.split(/- name: distributor\b/)[0] ?? '';
    const set = [...service.matchAll(/name: ([A-Z][A-Z0-9_]+)/g)].map((m) => m[1] ?? '');
    const known = new Set<string>(Object.values(SETTINGS).flatMap((d) => d.env));
    expect(set.length).toBeGreaterThan(40);
    expect(set.filter((n) => n !== 'TMPDIR' && !known.has(n))).toEqual([]);
  });

  it('RBAC grants exactly the runner calls, and no Secrets', () => {
    const rbac = templates.find((t) => t.file === 'rbac.yaml')?.text ?? '';
    const rules = yaml.load(/define "je.rules" -}}\n([\s\S]*?)\{\{- end/.exec(rbac)?.[1] ?? '') as Array<{
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }>;
    expect(rules).toEqual([
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    ]);
    expect(rbac).not.toMatch(/resources:.*secrets/);
    expect(rbac).toMatch(/\{\{- if \.Values\.jobs\.anyNamespace \}\}\n---\n[\s\S]*kind: ClusterRole\b/);
    expect(rbac.match(/^kind: ClusterRole$/gm)?.length).toBe(1);
  });
});
