import * as k8s from '@kubernetes/client-node';
import { JobExecutorError } from '../../errors.js';

export interface KubeClients {
  readonly kc: k8s.KubeConfig;
  readonly batch: k8s.BatchV1Api;
  readonly core: k8s.CoreV1Api;
}

/** In-cluster config inside a pod, otherwise `KUBECONFIG` (or ~/.kube/config), as kubectl does. */
export function kubeClients(kubeconfig?: string): KubeClients {
  const kc = new k8s.KubeConfig();
  try {
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new JobExecutorError('SETTINGS_INVALID', `--runner kubernetes: cannot load a kubeconfig (${(e as Error).message})`);
  }
  if (!kc.getCurrentCluster()) {
    throw new JobExecutorError('SETTINGS_INVALID', '--runner kubernetes: no cluster found (set KUBECONFIG, or run in a pod)');
  }
  return { kc, batch: kc.makeApiClient(k8s.BatchV1Api), core: kc.makeApiClient(k8s.CoreV1Api) };
}

/** The status code of a failed API call, if it was one. */
export function apiStatus(e: unknown): number | undefined {
  return e instanceof k8s.ApiException ? e.code : undefined;
}

/** The API server's own words for a failed call (its Status message), else the error text. */
export function apiMessage(e: unknown): string {
  if (e instanceof k8s.ApiException) {
    const raw: unknown = e.body;
    let body: unknown = raw;
    if (typeof raw === 'string') {
      try {
        body = JSON.parse(raw);
      } catch {
        return raw;
      }
    }
    if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
    return `HTTP ${e.code}`;
  }
  return e instanceof Error ? e.message : String(e);
}

export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
