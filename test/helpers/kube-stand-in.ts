import { mkdtempSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeApi } from '../../src/runners/kubernetes/kube-client.js';
import { KubeAuth, loadKubeConfigData } from '../../src/runners/kubernetes/kube-config.js';

/**
 * The runner's Kubernetes client pointed at an API server stand-in listening on 127.0.0.1 (plain HTTP, as a
 * kubeconfig allows with insecure-skip-tls-verify), through a kubeconfig file as a user would give it.
 */
export function kubeApiFor(server: http.Server): KubeApi {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'je-kubeconfig-')), 'config');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${(server.address() as AddressInfo).port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
  );
  return new KubeApi(new KubeAuth(loadKubeConfigData(file)));
}
