import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Containment of local tasks in cgroup v2, where the service may create cgroups: a process that leaves its
 * process group (`setsid`, a double fork) stays in its cgroup, and `cgroup.kill` (Linux 5.14+) stops every
 * process in it at once, as the end of a Pod's container does. Where this is not available, tasks run
 * without it and only their process group is stopped (README: containment).
 *
 * Synchronous on purpose: the launcher moves itself into a task's cgroup, starts the task (so the task is in
 * it from its first instruction, with no window to fork outside) and moves back, and nothing else may run
 * in between. No imports beyond node: (launcher-script.ts).
 */

/** The cgroup v2 mount and this process's cgroup below it, from /proc/self/{mountinfo,cgroup}. */
export function ownCgroupDir(): string | undefined {
  let mountinfo: string;
  let own: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    own = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return undefined;
  }
  // `0::/path` is the v2 line; v1 controllers have their own numbered lines.
  const rel = /^0::(\/.*)$/m.exec(own)?.[1];
  if (rel === undefined || rel.includes(' (deleted)')) return undefined;
  for (const line of mountinfo.split('\n')) {
    // mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(' - ');
    if (!left || !right || !right.startsWith('cgroup2 ')) continue;
    const fields = left.split(' ');
    const root = fields[3];
    const mountPoint = fields[4]?.replace(/\\040/g, ' ');
    if (root === undefined || mountPoint === undefined) continue;
    // The mount shows the hierarchy from `root` down (a container's cgroup namespace shows `/`).
    if (root !== '/' && !rel.startsWith(root)) continue;
    const below = root === '/' ? rel : rel.slice(root.length);
    return path.join(mountPoint, below);
  }
  return undefined;
}

export type CgroupProbe = { readonly ok: true; readonly dir: string } | { readonly ok: false; readonly why: string };

/**
 * Makes `<parent>/<name>` for a service's task cgroups and checks it can be used (cgroup.kill exists).
 * `parent` defaults to the service's own cgroup.
 */
export function makeCgroupBase(name: string, parent = ownCgroupDir()): CgroupProbe {
  if (parent === undefined) return { ok: false, why: 'no cgroup v2 hierarchy is mounted (or /proc is not readable)' };
  const dir = path.join(parent, name);
  try {
    mkdirSync(dir);
  } catch (e) {
    return { ok: false, why: `cannot create a cgroup in ${parent}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  if (!existsSync(path.join(dir, 'cgroup.kill'))) {
    tryRmdir(dir);
    return { ok: false, why: 'cgroup.kill is missing (Linux 5.14 or later is needed)' };
  }
  return { ok: true, dir };
}

/** The processes in a cgroup (not its children). */
export function cgroupProcs(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** Moves a process (0: the caller) into a cgroup. */
export function enterCgroup(dir: string, pid = 0): void {
  writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
}

/** Sends a signal to every process of a cgroup (a gentle stop before cgroup.kill). */
export function signalCgroup(dir: string, signal: NodeJS.Signals): void {
  for (const pid of cgroupProcs(dir)) {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone already */
    }
  }
}

/** SIGKILLs every process of the cgroup and its descendants, in one step that a forking process cannot outrun. */
export function killCgroup(dir: string): void {
  try {
    writeFileSync(path.join(dir, 'cgroup.kill'), '1');
  } catch {
    /* gone already */
  }
}

/** True while a process is in the cgroup or below it. */
export function cgroupPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(path.join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/** Removes a cgroup (and its child cgroups); false while it still holds processes. */
export function tryRmdir(dir: string): boolean {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) tryRmdir(path.join(dir, e.name));
    rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** The task cgroups below a base. */
export function childCgroups(base: string): string[] {
  try {
    return readdirSync(base, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => path.join(base, e.name));
  } catch {
    return [];
  }
}

/**
 * Task cgroups of services that are gone (a crash): their processes are killed and the cgroups removed, so an
 * escaped process does not outlive a crash either. A base is named `<prefix>-<pid>-<n>`; a live pid's is left.
 */
export function cleanStaleBases(parent: string, prefix: string, alive: (pid: number) => boolean): number {
  let cleaned = 0;
  for (const dir of childCgroups(parent)) {
    const m = new RegExp(`^${prefix}-(\\d+)-\\d+$`).exec(path.basename(dir));
    if (!m || alive(Number(m[1]))) continue;
    for (const task of childCgroups(dir)) killCgroup(task);
    killCgroup(dir);
    if (tryRmdir(dir)) cleaned++;
  }
  return cleaned;
}
