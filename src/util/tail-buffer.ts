/**
 * Keeps the last `maxBytes` of a text that arrives in pieces, so a chatty task cannot exhaust memory while the
 * end of its log (where failures are) survives. Linear in the bytes pushed: pieces sit in an array read from a
 * moving head (no `shift`, which copies the array on every call), and the array is compacted only once half of
 * it is dead. `text()` marks exactly how many bytes were dropped.
 */
interface Piece {
  readonly text: string;
  /** Bytes of `text`: what counts against the budget. */
  readonly bytes: number;
  /** Bytes of the source `text` stands for (more when a `\r` was taken off): what a drop counts. */
  readonly source: number;
}

const DEAD: Piece = { text: '', bytes: 0, source: 0 };

export class TailBuffer {
  private chunks: Piece[] = [];
  private head = 0;
  private bytes = 0;
  private droppedBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * Adds a piece; `sourceBytes` is how many bytes of the original it stands for, when that is not its own
   * length (a line whose `\r` was taken off), so that the dropped count is in bytes of the original.
   */
  push(text: string, sourceBytes?: number): void {
    if (text === '') return;
    let piece = text;
    let size = Buffer.byteLength(piece);
    let source = sourceBytes ?? size;
    if (size > this.maxBytes) {
      // One piece bigger than the whole budget: keep its tail only, and forget everything before it.
      const tail = utf8Tail(piece, this.maxBytes);
      this.dropAll();
      this.droppedBytes += tail.cut;
      piece = tail.text;
      size -= tail.cut;
      source -= tail.cut;
    }
    this.chunks.push({ text: piece, bytes: size, source });
    this.bytes += size;
    while (this.bytes > this.maxBytes && this.head < this.chunks.length - 1) {
      const first = this.chunks[this.head] as Piece;
      // The slot is dead: it must not keep its text alive until the next compaction (up to 1024 pieces of
      // 64 KiB each, measured as 160 MB of heap for a 200 MB line).
      this.chunks[this.head] = DEAD;
      this.head++;
      this.bytes -= first.bytes;
      this.droppedBytes += first.source;
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  private dropAll(): void {
    for (let i = this.head; i < this.chunks.length; i++) this.droppedBytes += (this.chunks[i] as Piece).source;
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Bytes (of the original) pushed but no longer kept. */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** Bytes kept. */
  get size(): number {
    return this.bytes;
  }

  /** The kept text, without a note. */
  body(): string {
    let body = '';
    for (let i = this.head; i < this.chunks.length; i++) body += (this.chunks[i] as Piece).text;
    return body;
  }
  /** The kept text, with a note of the bytes dropped before it. */
  text(): string {
    const body = this.body();
    return this.droppedBytes > 0 ? `[... ${this.droppedBytes} bytes dropped ...]\n${body}` : body;
  }
}

/** The last `maxBytes` bytes of `text`, cut on a UTF-8 character boundary; `cut` is the number of bytes removed. */
export function utf8Tail(text: string, maxBytes: number): { text: string; cut: number } {
  // Cheap exits first: a string of n UTF-16 units has at most 3n UTF-8 bytes, and at least n.
  if (text.length * 3 <= maxBytes) return { text, cut: 0 };
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, cut: 0 };
  let start = buf.length - Math.max(0, maxBytes);
  // Continuation bytes look like 10xxxxxx; never start inside a character.
  while (start < buf.length && ((buf[start] as number) & 0xc0) === 0x80) start++;
  return { text: buf.subarray(start).toString('utf8'), cut: start };
}

/** The first `maxBytes` bytes of `text`, cut on a UTF-8 character boundary. */
export function utf8Head(text: string, maxBytes: number): { text: string; cut: number } {
  if (text.length * 3 <= maxBytes) return { text, cut: 0 };
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, cut: 0 };
  let end = Math.max(0, maxBytes);
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return { text: buf.subarray(0, end).toString('utf8'), cut: buf.length - end };
}
