import http from 'node:http';
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { JobExecutorError } from '../../errors.js';

export interface KubeClients {
  readonly kc: k8s.KubeConfig;
  readonly batch: k8s.BatchV1Api;
  readonly core: k8s.CoreV1Api;
}

/**
 * client-node 1.x makes a new https.Agent for every API call, so every call pays a TLS handshake (measured
 * here: 15-250 ms per call under load, most of the time from a Job's completion to its answer). This keeps
 * one keep-alive agent per set of TLS options instead. `createAgent` is private in the typings but is the
 * one place every request (API calls, watches, log streams) gets its agent from.
 */
function pooledAgents(kc: k8s.KubeConfig): void {
  const agents = new Map<string, https.Agent>();
  const target = kc as unknown as { createAgent: (cluster: k8s.Cluster | null, options: https.AgentOptions) => https.Agent | http.Agent };
  const original = target.createAgent.bind(kc);
  target.createAgent = (cluster, options) => {
    if (!cluster || cluster.proxyUrl || cluster.server.startsWith('http:')) return original(cluster, options);
    const key = JSON.stringify([cluster.server, options.servername, options.rejectUnauthorized, String(options.ca), String(options.cert), String(options.key)]);
    let agent = agents.get(key);
    if (!agent) agents.set(key, (agent = new https.Agent({ ...options, keepAlive: true })));
    return agent;
  };
}

/** In-cluster config inside a pod, otherwise `KUBECONFIG` (or ~/.kube/config), as kubectl does. */
export function kubeClients(kubeconfig?: string): KubeClients {
  const kc = new k8s.KubeConfig();
  pooledAgents(kc);
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

/** How long one API call (not a watch or a log stream) may take before it is given up. */
export const API_TIMEOUT_MS = 30_000;

/**
 * Per-call options that end the request when `signal` aborts or after `timeoutMs` (client-node 1.x calls have
 * no timeout of their own: a hung connection would hold a task forever). Adds to `base` (e.g. mergePatch).
 */
export function bounded(signal?: AbortSignal, timeoutMs = API_TIMEOUT_MS, base?: k8s.ConfigurationOptions): k8s.ConfigurationOptions {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const middleware: k8s.ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(combined);
      return new k8s.Observable(Promise.resolve(request));
    },
    post: (response) => new k8s.Observable(Promise.resolve(response)),
  };
  return { ...base, middleware: [...(base?.middleware ?? []), middleware], middlewareMergeStrategy: 'append' };
}
