import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryConfigSource } from '../../src/config/sources/directory.js';
import { tempTree } from '../helpers/service.js';

const cfg = (name: string) => `apiVersion: v2\nactions:\n  - name: ${name}\n    events: [{ name: "sh.keptn.event.x.triggered" }]\n`;
const scope = { project: 'p', stage: 's', service: 'v' };

describe('directory config source', () => {
  it('picks up an edited config within a second, without re-reading it for every event before that', async () => {
    const dir = await tempTree({ 'job/config.yaml': cfg('before') });
    const source = new DirectoryConfigSource(dir);
    expect((await source.load(scope)).config.actions[0]?.name).toBe('before');
    await writeFile(path.join(dir, 'job', 'config.yaml'), cfg('after-edit'));
    // Within the recheck interval the parsed config is reused.
    expect((await source.load(scope)).config.actions[0]?.name).toBe('before');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await source.load(scope)).config.actions[0]?.name).toBe('after-edit');
  });

  it('finds a config added at a more specific level within a second', async () => {
    const dir = await tempTree({ 'job/config.yaml': cfg('global') });
    const source = new DirectoryConfigSource(dir);
    expect((await source.load(scope)).level).toBe('global');
    await mkdir(path.join(dir, 'p', 's', 'v', 'job'), { recursive: true });
    await writeFile(path.join(dir, 'p', 's', 'v', 'job', 'config.yaml'), cfg('service'));
    await new Promise((r) => setTimeout(r, 1100));
    const loaded = await source.load(scope);
    expect([loaded.level, loaded.config.actions[0]?.name]).toEqual(['service', 'service']);
  });

  it('refuses project, stage or service names that would leave the directory', async () => {
    const source = new DirectoryConfigSource(await tempTree({ 'job/config.yaml': cfg('x') }));
    await expect(source.load({ ...scope, project: '..' })).rejects.toThrow('data.project: ".." cannot name a config directory');
    await expect(source.load({ ...scope, service: 'a/b' })).rejects.toThrow('data.service: "a/b" cannot name a config directory');
  });
});
