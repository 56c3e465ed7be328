import { readFileSync, readdirSync } from 'node:fs';

/**
 * What /proc/<pid>/stat says about a process (Linux). Used by the launcher (to report a task's start time) and
 * by the service (to stop process groups it can no longer follow). No imports beyond node: so the launcher can
 * load it from the TypeScript sources too (launcher-script.ts).
 */
export interface ProcStat {
  readonly pid: number;
  /** One letter: R, S, D, Z (zombie: exited, not yet reaped), T, ... */
  readonly state: string;
  readonly pgrp: number;
  /** Field 22: clock ticks after boot at which the process started; with the pid, it names one process. */
  readonly startTime: string;
}

/** Parses the text of /proc/<pid>/stat; undefined when it is not one. */
export function parseProcStat(text: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close === -1) return undefined;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3, so field n is rest[n - 3].
  const state = rest[0];
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (
    !Number.isInteger(pid) ||
    state === undefined ||
    !Number.isInteger(pgrp) ||
    startTime === undefined ||
    !/^\d+$/.test(startTime)
  ) {
    return undefined;
  }
  return { pid, state, pgrp, startTime };
}

/** The stat of one process, or undefined when there is no such process (or no /proc). */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The live (not zombie) members of a process group, by scanning /proc. */
export function liveGroupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') out.push(stat.pid);
  }
  return out;
}
