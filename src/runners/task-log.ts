import { TailBuffer } from '../util/tail-buffer.js';
import type { LogLine } from './runner.js';

export interface TaskLogOptions {
  /** Bytes of the task's output kept for its answer (the tail: failures are at the end). */
  readonly maxBytes: number;
  /**
   * A line longer than this is cut into pieces of this size: a task that prints 200 MB without a newline must
   * not make the service hold (and re-concatenate) one ever-growing string.
   */
  readonly maxLineBytes?: number;
  /** Every line as it arrives (run store, live views). */
  readonly onLine: (line: LogLine) => void;
}

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

/**
 * The log of one task, shared by both runners: raw output chunks in, whole lines out (to `onLine`), and a
 * bounded tail for the answer. Linear in the bytes written whatever their shape. Only the task's own output
 * goes here; the runner's notes about the task ("created Job …") do not (TaskContext.onNote).
 */
export class TaskLog {
  private readonly tail: TailBuffer;
  private readonly pending = { stdout: '', stderr: '' };
  private readonly maxLine: number;
  private total = 0;
  /** The stream whose cut line's piece ends the tail, unterminated. */
  private openPiece: 'stdout' | 'stderr' | undefined;

  constructor(private readonly options: TaskLogOptions) {
    this.tail = new TailBuffer(options.maxBytes);
    this.maxLine = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  /** A chunk of output as it came (any size, any split). */
  write(stream: 'stdout' | 'stderr', chunk: string): void {
    if (chunk === '') return;
    this.total += Buffer.byteLength(chunk);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      const piece = chunk.slice(start, nl);
      this.pending[stream] = this.pending[stream] === '' ? piece : this.pending[stream] + piece;
      // A long line that ends within this chunk is cut like one still open: no line goes on over the bound.
      if (this.pending[stream].length > this.maxLine) this.cutLongLine(stream);
      const line = this.pending[stream];
      this.pending[stream] = '';
      if (line.endsWith('\r')) this.line(stream, line.slice(0, -1), 'line', 2);
      else this.line(stream, line, 'line', 1);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending[stream] += chunk.slice(start);
      // String length is a cheap lower bound of the bytes: a line is cut once it has more UTF-16 units than
      // maxLineBytes (so a line passed on holds at most 3 x maxLineBytes bytes, and a cut piece at most that).
      if (this.pending[stream].length > this.maxLine) this.cutLongLine(stream);
    }
  }

  /**
   * A long unterminated line goes on in pieces of maxLineBytes, cut on UTF-8 boundaries from one Buffer (one
   * copy, however many pieces). The pieces are lines for `onLine`, and join up again in the tail.
   */
  private cutLongLine(stream: 'stdout' | 'stderr'): void {
    const buf = Buffer.from(this.pending[stream], 'utf8');
    let at = 0;
    while (buf.length - at > this.maxLine) {
      let end = at + this.maxLine;
      // Continuation bytes look like 10xxxxxx; never cut inside a character.
      while (end > at && ((buf[end] as number) & 0xc0) === 0x80) end--;
      if (end === at) break;
      this.line(stream, buf.toString('utf8', at, end), 'piece', 0);
      at = end;
    }
    this.pending[stream] = buf.toString('utf8', at);
  }

  /** Whole lines that were read another way (a log read at the end): each is one line of output. */
  writeLine(stream: 'stdout' | 'stderr', text: string): void {
    this.total += Buffer.byteLength(text) + 1;
    this.line(stream, text, 'line', 1);
  }

  /** The output ended: a last line without a newline is passed on. */
  end(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.pending[s] !== '') {
        const rest = this.pending[s];
        this.pending[s] = '';
        this.line(s, rest, 'last', 0);
      }
    }
  }

  /** Bytes of output the task wrote. */
  get bytes(): number {
    return this.total;
  }

  /** The kept tail, with a note of the bytes dropped before it. */
  text(): string {
    return this.tail.text();
  }

  /** For a TaskResult: the kept tail and how many bytes of output came before it (the answer's note says so). */
  result(): { logs: string; droppedLogBytes?: number } {
    const dropped = this.tail.dropped;
    return dropped > 0 ? { logs: this.tail.body(), droppedLogBytes: dropped } : { logs: this.tail.body() };
  }

  /**
   * Into the tail as the task wrote it, so that the dropped count is exact: a `line` ended with a newline
   * (`ending` bytes of it: 2 for `\r\n`, taken off `text`) and shows with `\n`; a `piece` of a cut line shows
   * as it came, joined to the next piece; the `last` line, without a newline, gets one. A newline the task did
   * not write (before the other stream's line, after the last line) counts as no byte of its output.
   */
  private line(stream: 'stdout' | 'stderr', text: string, kind: 'line' | 'piece' | 'last', ending: number): void {
    if (this.openPiece !== undefined && this.openPiece !== stream) this.tail.push('\n', 0);
    this.openPiece = kind === 'piece' ? stream : undefined;
    if (kind === 'piece') this.tail.push(text);
    else this.tail.push(`${text}\n`, Buffer.byteLength(text) + ending);
    this.options.onLine({ stream, text, time: Date.now() });
  }
}
