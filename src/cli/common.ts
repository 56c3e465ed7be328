import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { JobExecutorError, errorMessage, isJobExecutorError } from '../errors.js';
import { parseKeptnEvent, type KeptnEvent } from '../keptn/event.js';

/** Exit codes shared by every command: 0 fine, 1 the work failed, 2 usage or config errors. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly isTTY: boolean;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
  isTTY: Boolean(process.stderr.isTTY),
};

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new JobExecutorError('USAGE', errorMessage(e));
  }
}

/** An event file for `run`/`render`: JSON (or YAML-free JSON only, like Keptn's CLI), missing id/time/context filled. */
export async function readEventFile(file: string): Promise<KeptnEvent> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new JobExecutorError('USAGE', `--event ${file}: cannot read the file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new JobExecutorError('EVENT_INVALID', `${file}: not valid JSON (${errorMessage(e)})`);
  }
  try {
    return parseKeptnEvent(json, { fillDefaults: true });
  } catch (e) {
    throw new JobExecutorError(isJobExecutorError(e) ? e.code : 'EVENT_INVALID', `${file}: ${errorMessage(e)}`);
  }
}

/** Maps an error to an exit code and a one-line message on stderr. */
export function fail(io: Io, e: unknown): number {
  io.err(`job-executor: ${errorMessage(e)}\n`);
  if (isJobExecutorError(e)) {
    return [
      'USAGE',
      'SETTINGS_INVALID',
      'CONFIG_INVALID',
      'CONFIG_NOT_FOUND',
      'EVENT_INVALID',
      'EVENT_NOT_KEPTN',
    ].includes(e.code)
      ? EXIT.usage
      : EXIT.failed;
  }
  return EXIT.failed;
}
