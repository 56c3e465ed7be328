/**
 * Hooks of the scripts/testenv cluster, whose node is kwok (a fake kubelet: no container runs).
 *  - Pods owned by a Job go Pending -> Running -> Succeeded (exit code 0, reason Completed) after
 *    TESTENV_POD_COMPLETE_DELAY_MS (default 1000 ms; per pod: annotation POD_COMPLETE_DELAY_ANNOTATION).
 *  - Other pods (Deployments, bare pods) go Running and Ready and stay so.
 *  - A pod labelled FAIL_LABEL=true fails about 1 s after Running; FAIL_ANNOTATIONS tune exit code, reason, message.
 *  - A pod labelled HOLD_LABEL=true stays Running (for deadline and timeout tests).
 *  - Every container's log is the CRI-format file <run dir>/logs/pods/default.log, unless a kwok `Logs`
 *    object named like the pod points at another file (setPodLog).
 * On a real cluster (JOB_EXECUTOR_TESTENV=external) the labels and annotations are harmless no-ops.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clients } from './kube.js';
import { apiStatus } from './kube.js';

export const FAIL_LABEL = 'pod-container-running-failed.stage.kwok.x-k8s.io';
const FAIL_PREFIX = 'pod-container-running-failed.stage.kwok.x-k8s.io';
export const FAIL_ANNOTATIONS = {
  exitCode: `${FAIL_PREFIX}/exit-code`,
  reason: `${FAIL_PREFIX}/reason`,
  message: `${FAIL_PREFIX}/message`,
  delay: `${FAIL_PREFIX}/delay`,
  containerName: `${FAIL_PREFIX}/container-name`,
} as const;
export const HOLD_LABEL = 'testenv.job-executor.io/hold';
export const POD_COMPLETE_DELAY_ANNOTATION = 'pod-complete.stage.kwok.x-k8s.io/delay';
export const POD_COMPLETE_MESSAGE_ANNOTATION = 'pod-complete.stage.kwok.x-k8s.io/message';

/** Pod-template metadata that makes kwok fail the pod with the given exit code, reason and message. */
export function failingPodMetadata(
  exitCode: number,
  reason: string,
  message: string,
): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  return {
    labels: { [FAIL_LABEL]: 'true' },
    annotations: {
      [FAIL_ANNOTATIONS.exitCode]: String(exitCode),
      [FAIL_ANNOTATIONS.reason]: reason,
      [FAIL_ANNOTATIONS.message]: message,
    },
  };
}

function runDir(): string {
  const dir = process.env.TESTENV_RUN_DIR;
  if (!dir) throw new Error('TESTENV_RUN_DIR is not set (not running against scripts/testenv)');
  return dir;
}

/** The catch-all log file kwok serves for every container without its own `Logs` object. */
export function defaultPodLogFile(): string {
  return join(runDir(), 'logs', 'pods', 'default.log');
}

/** One stdout line in the CRI log format kwok reads. */
export function criLine(text: string, time: Date = new Date()): string {
  return `${time.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')} stdout F ${text}\n`;
}

/**
 * Makes kwok serve `lines` as the log of every container of pod `namespace/podName`:
 * writes a CRI-format file in the run directory and creates the kwok `Logs` object that points at it.
 */
export async function setPodLog(
  clients: Clients,
  namespace: string,
  podName: string,
  lines: string[],
): Promise<string> {
  const dir = join(runDir(), 'logs', 'pods');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${namespace}_${podName}.log`);
  writeFileSync(file, lines.map((l) => criLine(l)).join(''));
  const body = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Logs',
    metadata: { name: podName, namespace },
    spec: { logs: [{ logsFile: file }] },
  };
  try {
    await clients.custom.createNamespacedCustomObject({
      group: 'kwok.x-k8s.io',
      version: 'v1alpha1',
      namespace,
      plural: 'logs',
      body,
    });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
  return file;
}
