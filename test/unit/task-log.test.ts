import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/runners/runner.js';
import { TaskLog } from '../../src/runners/task-log.js';
import { TailBuffer } from '../../src/util/tail-buffer.js';

function taskLog(maxBytes: number, maxLineBytes?: number) {
  const lines: LogLine[] = [];
  const log = new TaskLog({ maxBytes, ...(maxLineBytes ? { maxLineBytes } : {}), onLine: (l) => lines.push(l) });
  return { log, lines };
}

/** Splits a text into chunks at the given cut points: any split between characters, as the UTF-8 decoder gives them. */
function chunks(text: string, cuts: number[]): string[] {
  const chars = Array.from(text);
  const at = [...new Set(cuts.map((c) => c % (chars.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(chars.slice(prev, c).join(''));
    prev = c;
  }
  out.push(chars.slice(prev).join(''));
  return out;
}

const DROPPED = /^\[\.\.\. (\d+) bytes dropped \.\.\.\]\n/;

describe('TaskLog', () => {
  it('states exactly the bytes it dropped (10000 lines of 11 bytes, 1000 kept)', () => {
    const { log } = taskLog(1000);
    let out = '';
    for (let i = 0; i < 10000; i++) out += `line-${String(i).padStart(5, '0')}\n`;
    for (const c of chunks(out, [7, 4096, 65536, 65537, 100000])) log.write('stdout', c);
    log.end();
    // 90 whole lines fit in 1000 bytes; the rest was dropped.
    expect(log.text()).toBe(`[... ${110000 - 990} bytes dropped ...]\n${out.slice(-990)}`);
    expect(log.bytes).toBe(110000);
  });

  it('counts a dropped \\r\\n line by the bytes the task wrote', () => {
    const { log, lines } = taskLog(4);
    log.write('stdout', 'abc\r\nde\n');
    expect(lines.map((l) => l.text)).toEqual(['abc', 'de']);
    expect(log.text()).toBe('[... 5 bytes dropped ...]\nde\n');
  });

  it('passes a long line on in pieces that join up again in the tail', () => {
    const { log, lines } = taskLog(1 << 20, 10);
    log.write('stdout', 'x'.repeat(25));
    log.write('stdout', 'y'.repeat(5) + '\n');
    log.end();
    expect(lines.map((l) => l.text)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5) + 'y'.repeat(5)]);
    expect(log.text()).toBe('x'.repeat(25) + 'y'.repeat(5) + '\n');
  });

  it('never joins a cut piece to a line of the other stream', () => {
    const { log } = taskLog(1 << 20, 4);
    log.write('stdout', 'aaaaaa');
    log.write('stderr', 'err\n');
    log.end();
    expect(log.text()).toBe('aaaa\nerr\naa\n');
  });

  it('shows the output exactly: lines out and tail agree with what was written, for any split', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'é', '€', '\n', '\r', ' ', '😀'), maxLength: 300 });
    fc.assert(
      fc.property(
        text,
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 4, max: 40 }),
        (out, cuts, maxLine) => {
          const { log, lines } = taskLog(1 << 20, maxLine);
          for (const c of chunks(out, cuts)) log.write('stdout', c);
          log.end();
          expect(log.bytes).toBe(Buffer.byteLength(out));
          // The tail is the output with \r\n as \n and a last newline; no byte is lost or made up.
          let expected = out.replace(/\r\n/g, '\n');
          if (expected !== '' && !expected.endsWith('\n')) expected += '\n';
          expect(log.text()).toBe(expected);
          // No line given on holds more than 3 x maxLineBytes bytes (UTF-16 length is the cheap trigger).
          for (const l of lines) expect(Buffer.byteLength(l.text)).toBeLessThanOrEqual(3 * maxLine + 4);
        },
      ),
      // Fixed, so CI is repeatable; a random run found lines that ended within one chunk going on uncut.
      { seed: 20261202, numRuns: 1000 },
    );
  });

  it('keeps a tail of whole lines and states the dropped bytes so that both add up to the output', () => {
    const line = fc.string({ unit: fc.constantFrom('a', 'é', '€', ' '), maxLength: 30 }).map((s) => `${s}\n`);
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 60 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (ls, max, cuts) => {
          const out = ls.join('');
          const { log } = taskLog(max);
          for (const c of chunks(out, cuts)) log.write('stdout', c);
          log.end();
          const shown = log.text();
          const m = DROPPED.exec(shown);
          const body = m ? shown.slice(m[0].length) : shown;
          const dropped = m ? Number(m[1]) : 0;
          expect(dropped + Buffer.byteLength(body)).toBe(Buffer.byteLength(out));
          expect(out.endsWith(body)).toBe(true);
          expect(Buffer.byteLength(body)).toBeLessThanOrEqual(max);
        },
      ),
      { seed: 20261202, numRuns: 1000 },
    );
  });

  it('cuts a long line that ends within the chunk it came in, as one that is still open', () => {
    const { log, lines } = taskLog(1 << 20, 4);
    log.write('stdout', '😀€😀€😀\n');
    log.end();
    expect(lines.map((l) => l.text)).toEqual(['😀', '€', '😀', '€', '😀']);
    expect(log.text()).toBe('😀€😀€😀\n');
  });
});

describe('TailBuffer', () => {
  it('keeps the tail of one piece bigger than the budget, on a character boundary', () => {
    const t = new TailBuffer(5);
    t.push('ab');
    t.push('cdé€f');
    // 'cdé€f' is 8 bytes: 3 are dropped with 'ab' (2), keeping '€f' would be 4, 'é€f' is 6 > 5.
    expect(t.text()).toBe('[... 6 bytes dropped ...]\n€f');
    expect(t.dropped + t.size).toBe(10);
  });
});
