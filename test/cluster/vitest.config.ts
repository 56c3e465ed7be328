import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The cluster suite: needs a Kubernetes API server named by KUBECONFIG (scripts/test-cluster.sh starts one).
// Files run one after the other against the one shared cluster; timeouts are generous for a 2-core machine.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/cluster/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
  },
});
