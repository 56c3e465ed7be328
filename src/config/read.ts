import { open } from 'node:fs/promises';
import { JobExecutorError } from '../errors.js';
import { formatBytes, LIMITS } from './limits.js';

/** The problem of a config file over the size limit. */
export const TOO_LARGE = `(root): the file is larger than the limit of ${formatBytes(LIMITS.configBytes)}`;

/**
 * Reads a config file as UTF-8, refusing one over the size limit without reading it all: at most one byte
 * more than the limit is read, so a huge file costs nothing. `name` is how messages call the file.
 * Throws CONFIG_INVALID when it is too large; other errors (ENOENT, ...) are passed on.
 */
export async function readConfigText(file: string, name: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(LIMITS.configBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > LIMITS.configBytes) {
      throw new JobExecutorError('CONFIG_INVALID', `${name}: invalid job config: ${TOO_LARGE}`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}
