import type { FileHandle } from 'node:fs/promises';

/**
 * Reads at most `bytes` bytes from the start of an open file, whatever its size claims: a file that grew since
 * it was measured, or a file that lies, cannot make the reader hold more. Returns what was read. Imports only
 * types, so the local runner's launcher can use it as well.
 */
export async function readAtMost(handle: FileHandle, bytes: number): Promise<Buffer> {
  const buffer = Buffer.alloc(bytes);
  let length = 0;
  while (length < buffer.length) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  return buffer.subarray(0, length);
}
