/**
 * Keeps the last `maxBytes` of a text that arrives in pieces, so a chatty task cannot exhaust memory while the
 * end of its log (where failures are) survives. `text()` marks what was dropped.
 */
export class TailBuffer {
  private chunks: string[] = [];
  private bytes = 0;
  private dropped = 0;
  constructor(private readonly maxBytes: number) {}

  push(text: string): void {
    this.chunks.push(text);
    this.bytes += Buffer.byteLength(text);
    while (this.bytes > this.maxBytes && this.chunks.length > 1) {
      const first = this.chunks.shift() as string;
      const n = Buffer.byteLength(first);
      this.bytes -= n;
      this.dropped += n;
    }
  }

  text(): string {
    const body = this.chunks.join('');
    return this.dropped > 0 ? `[... ${this.dropped} bytes dropped ...]\n${body}` : body;
  }
}

/** The last `maxBytes` bytes of `text`, cut on a UTF-8 character boundary. */
export function utf8Tail(text: string, maxBytes: number): { text: string; cut: number } {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, cut: 0 };
  let start = buf.length - maxBytes;
  // Continuation bytes look like 10xxxxxx; never start inside a character.
  while (start < buf.length && ((buf[start] as number) & 0xc0) === 0x80) start++;
  return { text: buf.subarray(start).toString('utf8'), cut: start };
}
