/**
 * What the answer of a run found open after a restart says: the service knows which tasks had started (the
 * journal), not how far the last one got, and says so instead of guessing.
 */
export function recoveryNote(tasks: readonly string[]): string {
  if (tasks.length === 0)
    return 'not run: the service restarted before the run started (its task processes, if any, were stopped)';
  const last = tasks[tasks.length - 1] as string;
  const before = tasks.slice(0, -1);
  return (
    `the service restarted while task '${last}' ran; it was stopped and its result is unknown` +
    (before.length > 0 ? ` (tasks that had run before it: ${before.map((t) => `'${t}'`).join(', ')})` : '') +
    '. Send the event again to run it anew.'
  );
}
