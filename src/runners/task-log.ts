import { TailBuffer, utf8Head } from '../util/tail-buffer.js';
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
      const line = this.pending[stream] === '' ? piece : this.pending[stream] + piece;
      this.pending[stream] = '';
      this.line(stream, line.endsWith('\r') ? line.slice(0, -1) : line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending[stream] += chunk.slice(start);
      // A long unterminated line is passed on in pieces; String length is a cheap lower bound of its bytes.
      while (this.pending[stream].length > this.maxLine) {
        const head = utf8Head(this.pending[stream], this.maxLine);
        if (head.text === '') break;
        this.pending[stream] = this.pending[stream].slice(head.text.length);
        this.line(stream, head.text);
      }
    }
  }

  /** Whole lines that were read another way (a log read at the end): each is one line of output. */
  writeLine(stream: 'stdout' | 'stderr', text: string): void {
    this.total += Buffer.byteLength(text) + 1;
    this.line(stream, text);
  }

  /** The output ended: a last line without a newline is passed on. */
  end(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.pending[s] !== '') {
        const rest = this.pending[s];
        this.pending[s] = '';
        this.line(s, rest);
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

  private line(stream: 'stdout' | 'stderr', text: string): void {
    this.tail.push(`${text}\n`);
    this.options.onLine({ stream, text, time: Date.now() });
  }
}
