/**
 * Access to the cluster the cluster suite runs against: the one `scripts/testenv up` started,
 * or any cluster named by KUBECONFIG (JOB_EXECUTOR_TESTENV=external, e.g. kind or k3d).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { vi } from 'vitest';
import { apiStatus } from '../../../src/runners/kubernetes/kube-client.js';
import { found } from '../../helpers/wait.js';
import { CLUSTER_WAIT } from './wait.js';

// The service's own reading of API errors: the status code, and the API server's message.
export { apiMessage, apiStatus } from '../../../src/runners/kubernetes/kube-client.js';

export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  batch: k8s.BatchV1Api;
  apps: k8s.AppsV1Api;
  rbac: k8s.RbacAuthorizationV1Api;
  custom: k8s.CustomObjectsApi;
}

/** Loads the kubeconfig named by KUBECONFIG (required: the suite never guesses a cluster). */
export function loadKubeConfig(path: string | undefined = process.env.KUBECONFIG): k8s.KubeConfig {
  if (!path) {
    throw new Error('KUBECONFIG is not set: run the suite through scripts/test-cluster.sh (npm run test:cluster)');
  }
  if (!existsSync(path)) throw new Error(`KUBECONFIG ${path} does not exist`);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export function makeClients(kc: k8s.KubeConfig = loadKubeConfig()): Clients {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
  };
}

/** True when the suite runs against the control plane started by scripts/testenv (kwok nodes). */
export function isTestenv(): boolean {
  return Boolean(process.env.TESTENV_RUN_DIR) && process.env.JOB_EXECUTOR_TESTENV !== 'external';
}

/** A DNS-1123 name that is unique per call: `<prefix>-<8 hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Creates a namespace with a unique name and waits until its `default` ServiceAccount exists
 * (the ServiceAccount admission plugin rejects pods before that).
 */
export async function createNamespace(
  clients: Clients,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = uniqueName(prefix);
  await clients.core.createNamespace({
    body: { metadata: { name, labels: { 'job-executor.test/suite': 'cluster', ...labels } } },
  });
  await vi.waitFor(() => clients.core.readNamespacedServiceAccount({ name: 'default', namespace: name }), CLUSTER_WAIT);
  return name;
}

/** Starts deleting namespaces (background; the namespace controller finishes the job). */
export async function deleteNamespaces(clients: Clients, names: Iterable<string>): Promise<void> {
  for (const name of names) {
    try {
      await clients.core.deleteNamespace({ name, propagationPolicy: 'Background' });
    } catch (err) {
      if (apiStatus(err) !== 404) throw err;
    }
  }
}

/** Waits for a Job condition (Complete, Failed, ...) to be True and returns the Job. */
export async function waitForJobCondition(
  clients: Clients,
  namespace: string,
  name: string,
  type: string,
  timeoutMs = 90_000,
): Promise<k8s.V1Job> {
  return vi.waitFor(
    async () => {
      const job = await clients.batch.readNamespacedJobStatus({ name, namespace });
      const done = job.status?.conditions?.find(
        (c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'),
      );
      if (done && done.type !== type) {
        throw new Error(
          `Job ${namespace}/${name} ended ${done.type} (${done.reason ?? ''}: ${done.message ?? ''}), not ${type}`,
        );
      }
      return found(
        job.status?.conditions?.some((c) => c.type === type && c.status === 'True') && job,
        `Job ${namespace}/${name} condition ${type}=True`,
      );
    },
    { ...CLUSTER_WAIT, timeout: timeoutMs },
  );
}

/** The pods a Job created (label batch.kubernetes.io/job-name). */
export async function jobPods(clients: Clients, namespace: string, jobName: string): Promise<k8s.V1Pod[]> {
  const list = await clients.core.listNamespacedPod({
    namespace,
    labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
  });
  return list.items;
}

/**
 * A KubeConfig for a user without any permission until the caller binds it, plus the RBAC subject to bind.
 * On the testenv cluster this is the static-token user `ns-user` (TESTENV_NS_USER_KUBECONFIG);
 * on any other cluster it is a ServiceAccount in `namespace` with a token from the TokenRequest API.
 */
export async function restrictedUser(
  clients: Clients,
  namespace: string,
): Promise<{ kc: k8s.KubeConfig; subject: k8s.RbacV1Subject; description: string }> {
  const userKubeconfig = process.env.TESTENV_NS_USER_KUBECONFIG;
  if (isTestenv() && userKubeconfig) {
    const user = process.env.TESTENV_NS_USER ?? 'ns-user';
    return {
      kc: loadKubeConfig(userKubeconfig),
      subject: { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user },
      description: `user ${user} (static token)`,
    };
  }
  const saName = uniqueName('restricted');
  await clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: saName } } });
  const tokenRequest = await clients.core.createNamespacedServiceAccountToken({
    name: saName,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  const cluster = clients.kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: saName, token }],
    contexts: [{ name: saName, cluster: cluster.name, user: saName }],
    currentContext: saName,
  });
  return {
    kc,
    subject: { kind: 'ServiceAccount', name: saName, namespace },
    description: `ServiceAccount ${namespace}/${saName} (TokenRequest token)`,
  };
}
