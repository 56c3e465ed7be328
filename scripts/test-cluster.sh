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

VITEST_PID=
# shellcheck disable=SC2317 # called by the EXIT trap
down() {
  trap '' INT TERM # a second signal (timeout(1) signals the child and then its group) must not cut the cleanup short
  if [ -n "$VITEST_PID" ] && kill -0 "$VITEST_PID" 2>/dev/null; then
    kill -TERM -- "-$VITEST_PID" 2>/dev/null # its own process group: npx, vitest and its workers
    wait "$VITEST_PID" 2>/dev/null
  fi
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

# in the background and in its own process group, so that INT/TERM reach the trap at once and the trap
# can stop vitest with all its workers, then the cluster
setsid npx vitest run --config test/cluster/vitest.config.ts "$@" &
VITEST_PID=$!
wait "$VITEST_PID"
rc=$?
VITEST_PID=
exit $rc
