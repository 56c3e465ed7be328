import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { JobExecutorError } from '../../errors.js';
import { fileURLToPath } from 'node:url';

/**
 * The file Node runs as the launcher process. Built, it is `launcher-main.js` next to this module (dist/).
 * From the TypeScript sources (vitest, which runs src/ without building it), Node 20 cannot run .ts itself:
 * then launcher-main.ts and the modules it imports are transpiled with the project's TypeScript (a dev
 * dependency, present wherever the sources are) into a folder below the temp dir named by their hash, and
 * that is run. Only relative imports are followed, so launcher-main.ts imports nothing but node: and such files.
 */
export async function launcherScript(here = path.dirname(fileURLToPath(import.meta.url))): Promise<string> {
  const built = path.join(here, 'launcher-main.js');
  if (existsSync(built)) return built;
  const source = path.join(here, 'launcher-main.ts');
  if (!existsSync(source)) throw new JobExecutorError('LAUNCHER_ERROR', `neither ${built} nor ${source} exists`);
  transpiled ??= transpileTree(source);
  return transpiled;
}

let transpiled: Promise<string> | undefined;

async function transpileTree(entry: string): Promise<string> {
  // A dev dependency, loaded only here: a built package never comes this way.
  const ts = (await import('typescript')).default;
  const outputs = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (outputs.has(file)) continue;
    const { outputText } = ts.transpileModule(await readFile(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    outputs.set(file, outputText);
    // What is left after the types are erased is what runs: follow those imports.
    for (const ref of ts.preProcessFile(outputText, true, true).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      queue.push(path.resolve(path.dirname(file), ref.fileName.replace(/\.js$/, '.ts')));
    }
  }
  const root = commonDir([...outputs.keys()]);
  const hash = createHash('sha256');
  for (const [file, text] of [...outputs].sort(([a], [b]) => a.localeCompare(b))) hash.update(`${file}\0${text}\0`);
  const dir = path.join(os.tmpdir(), `job-executor-launcher-${hash.digest('hex').slice(0, 16)}`);
  const script = path.join(dir, path.relative(root, entry).replace(/\.ts$/, '.js'));
  if (existsSync(script)) return script;
  // Written aside and renamed into place, so a concurrent test process never runs a half-written tree.
  const staging = `${dir}.${process.pid}.${Date.now()}`;
  for (const [file, text] of outputs) {
    const target = path.join(staging, path.relative(root, file).replace(/\.ts$/, '.js'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, text);
  }
  await writeFile(path.join(staging, 'package.json'), '{"type":"module"}\n');
  try {
    await rename(staging, dir);
  } catch {
    // Another process won the race: its copy is the same.
    await rm(staging, { recursive: true, force: true });
  }
  return script;
}

function commonDir(files: string[]): string {
  let dir = path.dirname(files[0] as string);
  while (!files.every((f) => f.startsWith(dir + path.sep))) dir = path.dirname(dir);
  return dir;
}
