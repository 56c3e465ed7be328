/**
 * `vi.waitFor` / `expect.poll` options for a wait on the cluster, so a stuck cluster fails a test with what
 * was missing instead of hanging: pods are scheduled and start in seconds, so look every 250 ms for a minute.
 */
export const CLUSTER_WAIT = { timeout: 60_000, interval: 250 } as const;
