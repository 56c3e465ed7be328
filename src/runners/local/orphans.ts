import type { ProcessHandle } from '../runner.js';
import { liveGroupMembers, readProcStat } from './proc-stat.js';
import { sleep } from '../../util/backoff.js';

export interface StopGroupsOptions {
  /** From SIGTERM to SIGKILL. */
  readonly graceMs: number;
  /** Aborting skips the rest of the grace: SIGKILL at once. */
  readonly signal?: AbortSignal;
  /** How often the groups are looked at during the grace. */
  readonly pollMs?: number;
}

export interface StopGroupsResult {
  /** Groups that were there and were signalled. */
  readonly stopped: number[];
  /** Groups whose leader is gone, or is another process now (its pid was reused): left alone. */
  readonly gone: number[];
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is gone */
  }
}

/**
 * Stops the process groups of tasks whose service (or launcher) is gone: after a crash the journal has their
 * handles, and after a launcher's death the service has them. A group is signalled only while its leader is
 * the very process that was started (same pid and same start time): a pid the kernel has since given to
 * another process is never touched, and neither is a group whose leader is gone (its number may be reused).
 * SIGTERM first, SIGKILL to what is left after `graceMs`; zombies (dead, not yet reaped) count as gone.
 */
export async function stopOrphanedGroups(
  handles: readonly ProcessHandle[],
  options: StopGroupsOptions,
): Promise<StopGroupsResult> {
  const stopped: number[] = [];
  const gone: number[] = [];
  for (const h of handles) {
    const leader = readProcStat(h.pgid);
    if (leader && h.startTime !== '' && leader.startTime === h.startTime && leader.pgrp === h.pgid)
      stopped.push(h.pgid);
    else gone.push(h.pgid);
  }
  for (const pgid of stopped) signalGroup(pgid, 'SIGTERM');
  const pollMs = options.pollMs ?? 50;
  const left = await waitForGroups(stopped, Date.now() + options.graceMs, pollMs, options.signal);
  // The leader was checked above; in the grace its group can only have shrunk, so its number is still ours
  // unless every member died, and then `left` no longer holds it.
  for (const pgid of left) signalGroup(pgid, 'SIGKILL');
  // SIGKILL takes a moment to land: resolved when the groups are gone (or after a second, if they are stuck
  // in the kernel), so that a caller who answers the task can say its processes were stopped.
  await waitForGroups(left, Date.now() + 1000, pollMs);
  return { stopped, gone };
}

/** Waits until the groups have no live member, the deadline passes or the signal aborts; the groups left. */
async function waitForGroups(
  groups: number[],
  deadline: number,
  pollMs: number,
  signal?: AbortSignal,
): Promise<number[]> {
  let left = groups.filter((g) => liveGroupMembers(g).length > 0);
  while (left.length > 0 && Date.now() < deadline && !signal?.aborted) {
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())), signal);
    left = left.filter((g) => liveGroupMembers(g).length > 0);
  }
  return left;
}
