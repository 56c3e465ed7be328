#!/usr/bin/env bash
# Runs the cluster test suite (test/cluster) against a real Kubernetes control plane.
#
# Default: `scripts/testenv up` (building the pinned binaries on first use, ~cached afterwards),
# run the suite, and always `scripts/testenv down`, exiting with the suite's exit code.
#
# Existing cluster instead (kind, k3d, ...): JOB_EXECUTOR_TESTENV=external KUBECONFIG=~/.kube/config
# npm run test:cluster   -- nothing is started or stopped; `helm` must then be on PATH.
# Extra arguments are passed to vitest (e.g. a file filter or -t 'name').
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
TESTENV=$ROOT/scripts/testenv

if [ "${JOB_EXECUTOR_TESTENV:-}" = external ]; then
  if [ -z "${KUBECONFIG:-}" ]; then
    echo "test-cluster: JOB_EXECUTOR_TESTENV=external needs KUBECONFIG" >&2
    exit 2
  fi
  echo "test-cluster: using the existing cluster in KUBECONFIG=$KUBECONFIG" >&2
  # use the testenv helm if it was built, else helm from PATH
  if [ -x "$("$TESTENV" path)/helm" ]; then export TESTENV_BIN; TESTENV_BIN=$("$TESTENV" path); fi
  exec npx vitest run --config test/cluster/vitest.config.ts "$@"
fi

down() {
  "$TESTENV" down || echo "test-cluster: WARNING: scripts/testenv down failed" >&2
}
trap down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$SECONDS
if ! "$TESTENV" up >/dev/null; then
  echo "test-cluster: scripts/testenv up failed (logs in ${TESTENV_RUN_DIR:-/tmp/job-executor-testenv}/logs)" >&2
  exit 1
fi
echo "test-cluster: control plane ready in $((SECONDS - start))s" >&2
eval "$("$TESTENV" env)"

npx vitest run --config test/cluster/vitest.config.ts "$@"
rc=$?
exit $rc
