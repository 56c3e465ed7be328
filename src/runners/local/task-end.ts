import { isPlainObject } from '../../util/objects.js';
import type { TaskOutcome } from '../runner.js';
import type { LaunchEnd } from './launcher.js';
import type { OutputRead, StartFailure } from './launcher-protocol.js';

/** What the runner knew about the task, for wording its end. */
export interface EndContext {
  /** The program, as the task's cmd names it. */
  readonly file: string;
  /** As the task wrote it (before /keptn is mapped), when it set one. */
  readonly workingDir?: string;
  readonly maxPollDuration: number;
  /** Why the runner stopped the task, if it did. */
  readonly stoppedFor?: 'timeout' | 'cancelled';
  readonly maxOutputBytes: number;
  /** The setting that sets `maxOutputBytes`, named in the reason. */
  readonly outputSetting: string;
}

export interface DecidedEnd {
  readonly outcome: TaskOutcome;
  readonly reason?: string;
  readonly exitCode?: number;
  readonly output?: Record<string, unknown>;
  /** Runner notes (TaskContext.onNote): about `$KEPTN_OUTPUT` and the like. */
  readonly notes: string[];
}

function cwdReason(f: StartFailure, workingDir: string | undefined): string {
  const dir = workingDir ?? 'the task folder';
  if (f.notADirectory) return `workingDir ${dir} is not a directory`;
  if (f.code === 'ENOENT') return `workingDir ${dir} does not exist`;
  if (f.code === 'EACCES' || f.code === 'EPERM') return `workingDir ${dir} cannot be entered: permission denied`;
  return `workingDir ${dir} cannot be used: ${f.message}`;
}

/** Why a task did not start, naming the real cause: a missing workingDir is not a missing program. */
export function startFailureReason(f: StartFailure, c: Pick<EndContext, 'file' | 'workingDir'>): string {
  if (f.step === 'workspace') return `could not prepare the task folder: ${f.message}`;
  if (f.step === 'cwd') return cwdReason(f, c.workingDir);
  const start = `could not start "${c.file}"`;
  switch (f.code) {
    case 'ENOENT':
      if (f.programExists) return `${start}: its interpreter (the #! line) was not found`;
      return `${start}: ${c.file.includes('/') ? 'no such file' : 'command not found'}`;
    case 'EACCES':
    case 'EPERM':
      return `${start}: permission denied (is it an executable file?)`;
    case 'ENOEXEC':
      return `${start}: not an executable format`;
    case 'E2BIG':
      return `${start}: its arguments and environment are too long (E2BIG)`;
    case 'ENOTDIR':
      return `${start}: a part of its path is not a directory`;
    default:
      return `${start}: ${f.message}`;
  }
}

function exitOutcome(end: Extract<LaunchEnd, { how: 'exited' }>, c: EndContext): Omit<DecidedEnd, 'notes'> {
  if (end.stopped && c.stoppedFor === 'timeout') {
    return { outcome: 'timeout', reason: `task exceeded maxPollDuration of ${c.maxPollDuration}s and was stopped` };
  }
  if (end.stopped && c.stoppedFor === 'cancelled')
    return { outcome: 'cancelled', reason: 'task was cancelled (the service is shutting down)' };
  if (end.code === 0) return { outcome: 'succeeded', exitCode: 0 };
  if (end.code !== null) return { outcome: 'failed', exitCode: end.code, reason: `exited with code ${end.code}` };
  return { outcome: 'failed', reason: `killed by signal ${end.signal ?? 'unknown'}` };
}

/** `$KEPTN_OUTPUT`: a JSON object merged into the .finished data; anything else is a note, and too much a failure. */
function readOutput(
  read: OutputRead,
  c: EndContext,
): { output?: Record<string, unknown>; note?: string; failure?: string } {
  switch (read.kind) {
    case 'none':
      return {};
    case 'too-big':
      return { failure: `$KEPTN_OUTPUT holds more than ${read.limit} bytes, the limit (${c.outputSetting})` };
    case 'not-a-file':
      return { note: 'KEPTN_OUTPUT is not a regular file; it was not read' };
    case 'error':
      return { note: `KEPTN_OUTPUT could not be read: ${read.message}` };
    case 'data': {
      const text = Buffer.from(read.data.buffer, read.data.byteOffset, read.data.byteLength).toString('utf8');
      if (text.trim() === '') return {};
      try {
        const value: unknown = JSON.parse(text);
        if (isPlainObject(value)) return { output: value };
      } catch {
        /* said below */
      }
      return { note: 'KEPTN_OUTPUT does not hold a JSON object; it is not merged into the .finished data' };
    }
  }
}

/** The task's outcome from how it ended: pure, so every wording is tested without processes. */
export function decideEnd(end: LaunchEnd, c: EndContext): DecidedEnd {
  if (end.how === 'lost') return { outcome: 'failed', reason: end.reason, notes: [] };
  if (end.how === 'not-started') return { outcome: 'failed', reason: startFailureReason(end.failure, c), notes: [] };
  const decided = exitOutcome(end, c);
  const out = readOutput(end.output, c);
  const notes = out.note ? [out.note] : [];
  if (out.failure) {
    if (decided.outcome === 'succeeded') return { outcome: 'failed', exitCode: 0, reason: out.failure, notes };
    return { ...decided, notes: [...notes, `${out.failure}; it was not read`] };
  }
  return { ...decided, ...(out.output ? { output: out.output } : {}), notes };
}
