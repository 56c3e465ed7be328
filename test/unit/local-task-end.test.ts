import { describe, expect, it } from 'vitest';
import { fileBatches } from '../../src/runners/local/launcher.js';
import { FILE_PART_BYTES } from '../../src/runners/local/launcher-protocol.js';
import { decideEnd, startFailureReason, type EndContext } from '../../src/runners/local/task-end.js';

const c: EndContext = {
  file: 'deploy',
  maxPollDuration: 30,
  maxOutputBytes: 10,
  outputSetting: 'JOB_LOCAL_MAX_OUTPUT_BYTES',
};
const exited = (code: number | null, extra: Partial<{ signal: string; stopped: boolean; data: string }> = {}) => ({
  how: 'exited' as const,
  code,
  signal: extra.signal ?? null,
  stopped: extra.stopped ?? false,
  output:
    extra.data === undefined ? ({ kind: 'none' } as const) : ({ kind: 'data', data: Buffer.from(extra.data) } as const),
});

describe('local task end', () => {
  it('names why a task did not start', () => {
    const at = { file: 'deploy', workingDir: '/x' };
    expect(startFailureReason({ step: 'cwd', code: 'ENOENT', message: '' }, at)).toBe('workingDir /x does not exist');
    expect(startFailureReason({ step: 'cwd', code: 'ENOTDIR', message: '', notADirectory: true }, at)).toBe(
      'workingDir /x is not a directory',
    );
    expect(startFailureReason({ step: 'cwd', code: 'EACCES', message: '' }, at)).toBe(
      'workingDir /x cannot be entered: permission denied',
    );
    expect(startFailureReason({ step: 'spawn', code: 'ENOENT', message: '' }, at)).toBe(
      'could not start "deploy": command not found',
    );
    expect(startFailureReason({ step: 'spawn', code: 'ENOENT', message: '' }, { file: './deploy' })).toBe(
      'could not start "./deploy": no such file',
    );
    expect(startFailureReason({ step: 'spawn', code: 'ENOENT', message: '', programExists: true }, at)).toBe(
      'could not start "deploy": its interpreter (the #! line) was not found',
    );
    expect(startFailureReason({ step: 'spawn', code: 'EACCES', message: '' }, at)).toBe(
      'could not start "deploy": permission denied (is it an executable file?)',
    );
    expect(startFailureReason({ step: 'spawn', code: 'ENOEXEC', message: '' }, at)).toBe(
      'could not start "deploy": not an executable format',
    );
    expect(startFailureReason({ step: 'spawn', code: 'E2BIG', message: '' }, at)).toBe(
      'could not start "deploy": its arguments and environment are too long (E2BIG)',
    );
    expect(startFailureReason({ step: 'workspace', code: 'ENOSPC', message: 'no space' }, at)).toBe(
      'could not prepare the task folder: no space',
    );
  });

  it('decides by the exit, and by the stop only when the runner stopped it', () => {
    expect(decideEnd(exited(0), c)).toEqual({ outcome: 'succeeded', exitCode: 0, notes: [] });
    expect(decideEnd(exited(3), c)).toEqual({
      outcome: 'failed',
      exitCode: 3,
      reason: 'exited with code 3',
      notes: [],
    });
    expect(decideEnd(exited(null, { signal: 'SIGSEGV' }), c)).toMatchObject({
      outcome: 'failed',
      reason: 'killed by signal SIGSEGV',
    });
    expect(
      decideEnd(exited(null, { signal: 'SIGTERM', stopped: true }), { ...c, stoppedFor: 'timeout' }),
    ).toMatchObject({
      outcome: 'timeout',
      reason: 'task exceeded maxPollDuration of 30s and was stopped',
    });
    // The deadline passed, but the task had ended on its own before the stop reached it: its exit decides.
    expect(decideEnd(exited(0), { ...c, stoppedFor: 'timeout' })).toMatchObject({ outcome: 'succeeded' });
    expect(decideEnd(exited(null, { stopped: true }), { ...c, stoppedFor: 'cancelled' })).toMatchObject({
      outcome: 'cancelled',
    });
  });

  it('merges a JSON object from $KEPTN_OUTPUT, notes anything else, and fails a task that wrote too much', () => {
    expect(decideEnd(exited(0, { data: '{"a":1}' }), c)).toEqual({
      outcome: 'succeeded',
      exitCode: 0,
      output: { a: 1 },
      notes: [],
    });
    expect(decideEnd(exited(0, { data: '[1]' }), c).notes).toEqual([
      'KEPTN_OUTPUT does not hold a JSON object; it is not merged into the .finished data',
    ]);
    expect(decideEnd({ ...exited(0), output: { kind: 'too-big', limit: 10 } }, c)).toEqual({
      outcome: 'failed',
      exitCode: 0,
      reason: '$KEPTN_OUTPUT holds more than 10 bytes, the limit (JOB_LOCAL_MAX_OUTPUT_BYTES)',
      notes: [],
    });
    // A task that failed anyway keeps its own reason; the output's size is a note.
    expect(decideEnd({ ...exited(2), output: { kind: 'too-big', limit: 10 } }, c)).toMatchObject({
      reason: 'exited with code 2',
    });
  });

  it('sends files in bounded parts: small ones together, a big one piece by piece', () => {
    const big = Buffer.alloc(FILE_PART_BYTES * 2 + 5, 1);
    const batches = fileBatches([
      { path: 'a', content: Buffer.from('aa') },
      { path: 'empty', content: Buffer.alloc(0) },
      { path: 'big', content: big },
    ]);
    for (const b of batches) expect(b.reduce((n, p) => n + p.data.length, 0)).toBeLessThanOrEqual(FILE_PART_BYTES);
    const parts = batches.flat();
    expect(parts.map((p) => [p.path, p.data.length, p.append])).toEqual([
      ['a', 2, false],
      ['empty', 0, false],
      ['big', FILE_PART_BYTES, false],
      ['big', FILE_PART_BYTES, true],
      ['big', 5, true],
    ]);
  });
});
