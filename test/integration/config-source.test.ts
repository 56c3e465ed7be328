import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { formatBytes, LIMITS } from '../../src/config/limits.js';
import { DirectoryConfigSource } from '../../src/config/sources/directory.js';
import { KeptnResourceFileSource, type KeptnResourceConfigSource } from '../../src/config/sources/keptn-resource.js';
import { FileBudget, readTaskFiles } from '../../src/config/task-files.js';
import { tempTree } from '../helpers/service.js';

const cfg = (name: string) =>
  `apiVersion: v2\nactions:\n  - name: ${name}\n    events: [{ name: "sh.keptn.event.x.triggered" }]\n`;
const scope = { project: 'p', stage: 's', service: 'v' };

describe('directory config source', () => {
  it('picks up an edited config within a second, without re-reading it for every event before that', async () => {
    const dir = await tempTree({ 'job/config.yaml': cfg('before') });
    const source = new DirectoryConfigSource(dir);
    expect((await source.load(scope)).config.actions[0]?.name).toBe('before');
    await writeFile(path.join(dir, 'job', 'config.yaml'), cfg('after-edit'));
    // Within the recheck interval the parsed config is reused.
    expect((await source.load(scope)).config.actions[0]?.name).toBe('before');
    await sleep(1100);
    expect((await source.load(scope)).config.actions[0]?.name).toBe('after-edit');
  });

  it('finds a config added at a more specific level within a second', async () => {
    const dir = await tempTree({ 'job/config.yaml': cfg('global') });
    const source = new DirectoryConfigSource(dir);
    expect((await source.load(scope)).level).toBe('global');
    await mkdir(path.join(dir, 'p', 's', 'v', 'job'), { recursive: true });
    await writeFile(path.join(dir, 'p', 's', 'v', 'job', 'config.yaml'), cfg('service'));
    await sleep(1100);
    const loaded = await source.load(scope);
    expect([loaded.level, loaded.config.actions[0]?.name]).toEqual(['service', 'service']);
  });

  it('refuses project, stage or service names that would leave the directory', async () => {
    const source = new DirectoryConfigSource(await tempTree({ 'job/config.yaml': cfg('x') }));
    await expect(source.load({ ...scope, project: '..' })).rejects.toThrow(
      'data.project: ".." cannot name a config directory',
    );
    await expect(source.load({ ...scope, service: 'a/b' })).rejects.toThrow(
      'data.service: "a/b" cannot name a config directory',
    );
  });
});

describe('task files stay inside the config folder (defect 6)', () => {
  const outside = async () => tempTree({ 'secret.txt': 'outside secret' });

  it('refuses a files entry that is a symbolic link to a file outside, naming the entry', async () => {
    const elsewhere = await outside();
    const dir = await tempTree({ 'job/config.yaml': cfg('x') });
    await symlink(path.join(elsewhere, 'secret.txt'), path.join(dir, 'creds.txt'));
    const loaded = await new DirectoryConfigSource(dir).load(scope);
    await expect(readTaskFiles(loaded.files, ['creds.txt'])).rejects.toMatchObject({
      code: 'FILE_REFUSED',
      message: 'files: "creds.txt" is a symbolic link to outside the config folder; only files inside it are delivered',
    });
  });

  it('refuses a folder that holds a link out (to a file or a folder), never skipping it silently', async () => {
    const elsewhere = await outside();
    const dir = await tempTree({ 'job/config.yaml': cfg('x'), 'charts/a.txt': 'a' });
    await symlink(path.join(elsewhere, 'secret.txt'), path.join(dir, 'charts', 'b-link.txt'));
    const files = new DirectoryConfigSource(dir);
    const loaded = await files.load(scope);
    await expect(readTaskFiles(loaded.files, ['/charts'])).rejects.toThrow(
      'files: "/charts" (at charts/b-link.txt) is a symbolic link to outside the config folder',
    );
    const dir2 = await tempTree({ 'job/config.yaml': cfg('x'), 'charts/a.txt': 'a' });
    await symlink(elsewhere, path.join(dir2, 'charts', 'sub'));
    await expect(readTaskFiles((await new DirectoryConfigSource(dir2).load(scope)).files, ['charts'])).rejects.toThrow(
      '(at charts/sub) is a symbolic link to outside',
    );
  });

  it('follows links that stay inside the folder, and a link loop ends', async () => {
    const dir = await tempTree({ 'job/config.yaml': cfg('x'), 'data/real.txt': 'real' });
    await symlink(path.join(dir, 'data', 'real.txt'), path.join(dir, 'data', 'alias.txt'));
    await symlink(path.join(dir, 'data'), path.join(dir, 'data', 'loop'));
    const got = await readTaskFiles((await new DirectoryConfigSource(dir).load(scope)).files, ['data']);
    expect(got.map((f) => [f.path, f.content.toString()])).toEqual([
      ['data/alias.txt', 'real'],
      ['data/real.txt', 'real'],
    ]);
  });

  it('refuses entries with ".." before touching the disk', async () => {
    const dir = await tempTree({ 'job/config.yaml': cfg('x') });
    const loaded = await new DirectoryConfigSource(dir).load(scope);
    await expect(readTaskFiles(loaded.files, ['a/../../etc/passwd'])).rejects.toMatchObject({
      code: 'FILE_REFUSED',
      message: expect.stringContaining('has a ".." segment'),
    });
  });

  it(`bounds what one task is given: ${LIMITS.fileBytes} bytes per file, ${LIMITS.taskFileBytes} in all, ${LIMITS.taskFiles} files`, async () => {
    const mib = Buffer.alloc(LIMITS.fileBytes, 'a');
    const dir = await tempTree({
      'job/config.yaml': cfg('x'),
      'big.bin': Buffer.alloc(LIMITS.fileBytes + 1),
      ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`many-mib/${i}.bin`, mib])),
      ...Object.fromEntries(
        Array.from({ length: LIMITS.taskFiles + 1 }, (_, i) => [`many/${String(i).padStart(4, '0')}.txt`, 'x']),
      ),
      'ok.txt': 'fine',
    });
    const files = (await new DirectoryConfigSource(dir).load(scope)).files;
    await expect(readTaskFiles(files, ['big.bin'])).rejects.toThrow(
      `files: big.bin: big.bin is ${LIMITS.fileBytes + 1} bytes, more than the limit of 1 MiB per file`,
    );
    await expect(readTaskFiles(files, ['many-mib'])).rejects.toThrow(
      'files: many-mib: a task may be given at most 4 MiB of files',
    );
    await expect(readTaskFiles(files, ['many'])).rejects.toThrow(
      `files: many: a task may be given at most ${LIMITS.taskFiles} files`,
    );
    expect((await readTaskFiles(files, ['ok.txt', '/ok.txt'])).map((f) => f.path)).toEqual(['ok.txt']);
  });

  it(`bounds the files of all tasks of a run together (${LIMITS.runFileBytes} bytes)`, async () => {
    const perTask = LIMITS.taskFileBytes / LIMITS.fileBytes;
    const dir = await tempTree({
      'job/config.yaml': cfg('x'),
      ...Object.fromEntries(
        Array.from({ length: perTask }, (_, i) => [`mib/${i}.bin`, Buffer.alloc(LIMITS.fileBytes)]),
      ),
    });
    const files = (await new DirectoryConfigSource(dir).load(scope)).files;
    const run = FileBudget.forRun();
    const tasks = LIMITS.runFileBytes / LIMITS.taskFileBytes;
    for (let t = 0; t < tasks; t++) expect(await readTaskFiles(files, ['mib'], undefined, run)).toHaveLength(perTask);
    await expect(readTaskFiles(files, ['mib'], undefined, run)).rejects.toThrow(
      'files: mib: the tasks of a run may be given at most 16 MiB of files',
    );
  });
});

describe('config errors do not reveal where the service keeps its files', () => {
  it('names the config relative to the root in CONFIG_INVALID, CONFIG_NOT_FOUND and FILE_NOT_FOUND', async () => {
    const dir = await tempTree({ 'p/s/job/config.yaml': 'apiVersion: v2\nactions:\n  - tasks: [{ name: t }]\n' });
    const source = new DirectoryConfigSource(dir);
    const invalid = await source.load(scope).catch((e: Error) => e);
    expect(invalid).toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'p/s/job/config.yaml: invalid job config: actions[0].tasks[0].image: required',
    });
    const missing = await source.load({ project: 'q', stage: 's', service: 'v' }).catch((e: Error) => e);
    expect(missing).toMatchObject({ code: 'CONFIG_NOT_FOUND' });
    const ok = await tempTree({ 'job/config.yaml': cfg('x') });
    const notFound = await readTaskFiles((await new DirectoryConfigSource(ok).load(scope)).files, ['nope']).catch(
      (e: Error) => e,
    );
    for (const e of [invalid, missing, notFound]) expect((e as Error).message).not.toContain(os.tmpdir());
  });

  it('refuses a config file over the size limit without reading it whole', async () => {
    const dir = await tempTree({ 'job/config.yaml': cfg('x') });
    await truncate(path.join(dir, 'job', 'config.yaml'), 512 * 1024 * 1024);
    await expect(new DirectoryConfigSource(dir).load(scope)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: `job/config.yaml: invalid job config: (root): the file is larger than the limit of ${formatBytes(LIMITS.configBytes)}`,
    });
  });
});

describe('keptn resource files', () => {
  /** The file source over a resource service that lists what it is given. */
  const source = (listed: string[]) => {
    const fake = {
      levels: () => [{ level: 'service', commit: undefined, where: 'p/s/v' }],
      get: async (_l: string, _s: unknown, uri: string) =>
        listed.includes(`/${uri}`) && !listed.some((u) => u.startsWith(`/${uri}/`)) ? Buffer.from(uri) : undefined,
      list: async () => listed,
    };
    return new KeptnResourceFileSource(fake as unknown as KeptnResourceConfigSource, scope);
  };

  it('refuses ".." in an entry and in a URI the service lists', async () => {
    await expect(readTaskFiles(source([]), ['../other-project/x'])).rejects.toMatchObject({ code: 'FILE_REFUSED' });
    await expect(readTaskFiles(source(['/charts/../../x']), ['charts'])).rejects.toThrow(
      'files: charts: the resource service listed "/charts/../../x", which is not a plain path',
    );
    expect((await readTaskFiles(source(['/charts/a.tgz']), ['charts'])).map((f) => f.path)).toEqual(['charts/a.tgz']);
  });
});
