import { appendFile } from 'node:fs/promises';
import type { OutgoingEvent } from '../responses.js';
import type { Sink } from './sink.js';

/** One JSON line per event on stdout: for `run`, pipes, and trying the service out. */
export class StdoutSink implements Sink {
  readonly name = 'stdout';
  constructor(private readonly write: (line: string) => void = (l) => process.stdout.write(l)) {}
  async send(event: OutgoingEvent): Promise<void> {
    this.write(`${JSON.stringify(event)}\n`);
  }
}

/** One JSON line per event, appended to a file. */
export class FileSink implements Sink {
  readonly name: string;
  constructor(private readonly file: string) {
    this.name = `file:${file}`;
  }
  async send(event: OutgoingEvent): Promise<void> {
    await appendFile(this.file, `${JSON.stringify(event)}\n`);
  }
}
