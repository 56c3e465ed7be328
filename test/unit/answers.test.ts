import { describe, expect, it } from 'vitest';
import { answers, eventBytes, finishedFor, shrinkFinished, type AnswerLimits } from '../../src/executor/answers.js';
import { keptnEvent } from '../helpers/service.js';

const limits: AnswerLimits = {
  source: 'job-executor-service',
  messageLogBytes: 64 * 1024,
  maxEventBytes: 64 * 1024,
  runUrl: 'http://je/api/runs/r1',
};
const window = { start: Date.parse('2026-01-01T00:00:00Z'), end: Date.parse('2026-01-01T00:01:00Z') };
const loud = { action: { silent: false } };
const quiet = { action: { silent: true } };

describe('whether a run answers', () => {
  it.each([
    ['sh.keptn.event.test.triggered', [loud], true],
    ['sh.keptn.event.test.triggered', [quiet], false],
    ['sh.keptn.event.test.triggered', [quiet, loud], true],
    ['sh.keptn.event.test.finished', [loud], false],
    ['sh.keptn.event.dev.delivery.triggered', [loud], false],
  ] as const)('%s with %j: %s', (type, matched, expected) => {
    expect(answers(keptnEvent(type), matched)).toBe(expected);
  });
});

describe('the .finished fits the receiver', () => {
  const noisy = 'x'.repeat(200) + '\n';
  const parts = [
    { name: 'one', outcome: 'succeeded' as const, logs: noisy.repeat(400) },
    { name: 'two', outcome: 'failed' as const, reason: 'exited with code 1', logs: 'é'.repeat(50_000) },
  ];

  it('the whole event, not only the message, stays within the limit: logs are cut with a note and the run URL', () => {
    const ev = keptnEvent('sh.keptn.event.test.triggered', { labels: { a: 'b'.repeat(2000) } });
    const out = finishedFor(
      ev,
      { status: 'errored', result: 'fail', parts, output: { big: 'y'.repeat(8000) }, window },
      limits,
    );
    expect(eventBytes(out)).toBeLessThanOrEqual(limits.maxEventBytes);
    expect(out.data).toMatchObject({
      status: 'errored',
      result: 'fail',
      big: 'y'.repeat(8000),
      test: { start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:01:00Z' },
    });
    const message = out.data.message as string;
    expect(message).toContain("Task 'two' failed: exited with code 1");
    expect(message).toMatch(
      /\[\.\.\. \d+ bytes cut; more of the log in the run store \(http:\/\/je\/api\/runs\/r1\) \.\.\.\]/,
    );
  });

  it('with a small limit too (a setting), and the same id on every form', () => {
    const ev = keptnEvent('sh.keptn.event.action.triggered');
    const small = { ...limits, maxEventBytes: 8 * 1024 };
    const out = finishedFor(ev, { status: 'succeeded', result: 'pass', parts, window }, small);
    expect(eventBytes(out)).toBeLessThanOrEqual(small.maxEventBytes);
    expect(out.data.message).toContain("Task 'one' finished successfully!");
  });

  it('job output that cannot fit is left out and the answer is errored, saying why', () => {
    const ev = keptnEvent('sh.keptn.event.action.triggered');
    const out = finishedFor(
      ev,
      { status: 'succeeded', result: 'pass', parts, output: { huge: 'z'.repeat(100_000) }, window },
      limits,
    );
    expect(eventBytes(out)).toBeLessThanOrEqual(limits.maxEventBytes);
    expect(out.data.huge).toBeUndefined();
    expect(out.data).toMatchObject({ status: 'errored', result: 'fail' });
    expect(out.data.message).toMatch(/does not fit the receiver's limit of 65536 bytes because of the job output/);
  });

  it('an answer under the limit is left as it is', () => {
    const ev = keptnEvent('sh.keptn.event.action.triggered');
    const out = finishedFor(
      ev,
      { status: 'succeeded', result: 'pass', parts: [{ name: 'one', outcome: 'succeeded', logs: 'hello\n' }], window },
      limits,
    );
    expect(out.data.message).toBe("Task 'one' finished successfully!\n\nLogs:\nhello\n\n\n");
    expect(out.data.test).toBeUndefined();
  });

  it('shrinking a refused answer: shorter every time, same id, status and result, until nothing is left to cut', () => {
    const ev = keptnEvent('sh.keptn.event.action.triggered');
    let answer = finishedFor(
      ev,
      { status: 'succeeded', result: 'pass', parts, output: { keep: 'k'.repeat(3000) }, window },
      limits,
    );
    const sizes = [eventBytes(answer)];
    for (let i = 0; i < 50; i++) {
      const next = shrinkFinished(answer, limits.runUrl);
      if (!next) break;
      expect(next.id).toBe(answer.id);
      answer = next;
      sizes.push(eventBytes(answer));
    }
    expect(sizes.length).toBeGreaterThan(2);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeLessThan(sizes[i - 1] as number);
    expect(answer.data.keep).toBeUndefined();
    expect(answer.data).toMatchObject({ status: 'errored', result: 'fail', project: 'proj' });
    expect(answer.data.message).toContain('the receiver refused this answer as too large');
    expect(shrinkFinished(answer)).toBeUndefined();
  });
});
