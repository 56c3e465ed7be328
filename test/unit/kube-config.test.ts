import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeAuth, inClusterConfig, loadKubeConfigData } from '../../src/runners/kubernetes/kube-config.js';

/**
 * The runner reads kubeconfigs with client-node's parsers and authenticators but without its KubeConfig class
 * (whose module loads every generated API). For each way users authenticate, the TLS material and headers of a
 * request must be exactly what client-node's KubeConfig gives.
 */

const dir = mkdtempSync(path.join(os.tmpdir(), 'je-kubeconfig-'));
const b64 = (text: string) => Buffer.from(text).toString('base64');
let n = 0;

function file(name: string, content: string): string {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>, extra = ''): string {
  const id = ++n;
  return file(
    `kc-${id}/config`,
    `apiVersion: v1
kind: Config
clusters:
- name: c${id}
  cluster: ${JSON.stringify({ server: 'https://127.0.0.1:6443', ...cluster })}
users:
- name: u${id}
  user: ${JSON.stringify(user)}
contexts:
- name: ctx${id}
  context: { cluster: c${id}, user: u${id}, namespace: team-a }
current-context: ctx${id}
${extra}`,
  );
}

interface Seen {
  server: string | undefined;
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
  authorization?: string;
  impersonate?: string;
}

const text = (v: unknown) =>
  v === undefined || v === null ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);

/** What client-node's KubeConfig puts on a request. */
async function clientNode(kc: k8s.KubeConfig): Promise<Seen> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers = (opts.headers ?? {}) as Record<string, string>;
  // Node turns `auth` into a Basic Authorization header, unless one is set already.
  const authorization =
    headers.Authorization ?? (opts.auth ? `Basic ${Buffer.from(opts.auth).toString('base64')}` : undefined);
  return clean({
    server: kc.getCurrentCluster()?.server,
    ca: text(opts.ca),
    cert: text(opts.cert),
    key: text(opts.key),
    rejectUnauthorized: opts.rejectUnauthorized,
    servername: opts.servername,
    authorization,
    impersonate: headers['Impersonate-User'],
  });
}

/** What the runner's KubeAuth puts on a request. */
async function ours(auth: KubeAuth): Promise<Seen> {
  const r = await auth.request();
  const o = (r.agent as https.Agent).options;
  return clean({
    server: auth.server,
    ca: text(o.ca),
    cert: text(o.cert),
    key: text(o.key),
    rejectUnauthorized: o.rejectUnauthorized,
    servername: o.servername,
    authorization: r.headers.Authorization,
    impersonate: r.headers['Impersonate-User'],
  });
}

function clean(s: Seen): Seen {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as unknown as Seen;
}

async function same(configFile: string): Promise<Seen> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(configFile);
  const expected = await clientNode(kc);
  const auth = new KubeAuth(loadKubeConfigData(configFile));
  expect(await ours(auth)).toEqual(expected);
  auth.close();
  return expected;
}

describe('kubeconfig: the same credentials as client-node’s KubeConfig', () => {
  it('a bearer token with the CA inline', async () => {
    const seen = await same(kubeconfig({ 'certificate-authority-data': b64('CA-PEM') }, { token: 'tok-123' }));
    expect(seen).toMatchObject({ ca: 'CA-PEM', authorization: 'Bearer tok-123' });
  });

  it('client certificate and key from files named relative to the kubeconfig, CA file too', async () => {
    const cfg = kubeconfig(
      { 'certificate-authority': 'pki/ca.crt' },
      { 'client-certificate': 'pki/client.crt', 'client-key': 'pki/client.key' },
    );
    file(path.join(path.basename(path.dirname(cfg)), 'pki/ca.crt'), 'CA FILE');
    file(path.join(path.basename(path.dirname(cfg)), 'pki/client.crt'), 'CERT FILE');
    file(path.join(path.basename(path.dirname(cfg)), 'pki/client.key'), 'KEY FILE');
    expect(await same(cfg)).toMatchObject({ ca: 'CA FILE', cert: 'CERT FILE', key: 'KEY FILE' });
  });

  it('client certificate and key inline', async () => {
    expect(
      await same(kubeconfig({}, { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') })),
    ).toMatchObject({ cert: 'CERT', key: 'KEY' });
  });

  it('insecure-skip-tls-verify and tls-server-name', async () => {
    expect(
      await same(kubeconfig({ 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.internal' }, { token: 't' })),
    ).toMatchObject({
      rejectUnauthorized: false,
      servername: 'api.internal',
    });
  });

  it('impersonation (as) and basic credentials', async () => {
    expect(await same(kubeconfig({}, { username: 'ann', password: 's3cret', as: 'bob' }))).toMatchObject({
      authorization: `Basic ${b64('ann:s3cret')}`,
      impersonate: 'bob',
    });
  });

  it('a token wins over basic credentials, as with client-node', async () => {
    expect(await same(kubeconfig({}, { username: 'ann', password: 'pw', token: 'tok' }))).toMatchObject({
      authorization: 'Bearer tok',
    });
  });

  it('a token file (auth-provider config), read from disk', async () => {
    const tokenFile = file('token-file', 'from-the-file');
    expect(await same(kubeconfig({}, { 'auth-provider': { name: 'tokenFile', config: { tokenFile } } }))).toMatchObject(
      { authorization: 'Bearer from-the-file' },
    );
  });

  it('an exec credential plugin (EKS, GKE, AKS style): its token, and a client certificate it gives', async () => {
    const plugin = file(
      'plugin.cjs',
      `#!/usr/bin/env node
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
  status: { token: 'exec-' + process.env.EXTRA, clientCertificateData: 'EXEC CERT', clientKeyData: 'EXEC KEY', expirationTimestamp: '2999-01-01T00:00:00Z' } }));
`,
    );
    chmodSync(plugin, 0o755);
    const seen = await same(
      kubeconfig(
        {},
        {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: process.execPath,
            args: [plugin],
            env: [{ name: 'EXTRA', value: 'x1' }],
            interactiveMode: 'Never',
          },
        },
      ),
    );
    expect(seen).toMatchObject({ authorization: 'Bearer exec-x1', cert: 'EXEC CERT', key: 'EXEC KEY' });
  });

  it('in a pod: the service account token and CA, and the namespace', async () => {
    const prefix = path.join(dir, 'pod');
    file('pod/var/run/secrets/kubernetes.io/serviceaccount/token', 'sa-token');
    file('pod/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', 'SA CA');
    file('pod/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'jobs-ns');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const kc = new k8s.KubeConfig();
    try {
      kc.loadFromCluster(prefix);
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    }
    const expected = await clientNode(kc);
    const auth = new KubeAuth(inClusterConfig(env, prefix));
    expect(await ours(auth)).toEqual(expected);
    expect(expected).toMatchObject({ server: 'https://10.96.0.1:443', authorization: 'Bearer sa-token', ca: 'SA CA' });
    expect(auth.namespace).toBe('jobs-ns');
  });

  it('KUBECONFIG naming several files: merged, and the current context of the last one that names one', async () => {
    const a = kubeconfig({ 'certificate-authority-data': b64('CA-A') }, { token: 'token-a' });
    const b = kubeconfig({ 'certificate-authority-data': b64('CA-B') }, { token: 'token-b' });
    const env = { KUBECONFIG: [a, b].join(path.delimiter) };
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = env.KUBECONFIG;
    const kc = new k8s.KubeConfig();
    try {
      kc.loadFromDefault();
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
    const auth = new KubeAuth(loadKubeConfigData(undefined, env));
    expect(await ours(auth)).toEqual(await clientNode(kc));
    expect(await ours(auth)).toMatchObject({ authorization: 'Bearer token-b', ca: 'CA-B' });
  });

  it('a proxy-url gets client-node’s proxy agents (loaded only then)', async () => {
    const socks = new KubeAuth(
      loadKubeConfigData(kubeconfig({ 'proxy-url': 'socks5://127.0.0.1:1080' }, { token: 't' })),
    );
    expect((await socks.request()).agent.constructor.name).toBe('SocksProxyAgent');
    const proxy = new KubeAuth(
      loadKubeConfigData(kubeconfig({ 'proxy-url': 'http://127.0.0.1:3128' }, { token: 't' })),
    );
    expect((await proxy.request()).agent.constructor.name).toBe('HttpsProxyAgent');
  });

  it('one keep-alive agent for all requests with the same credentials', async () => {
    const auth = new KubeAuth(
      loadKubeConfigData(kubeconfig({ 'certificate-authority-data': b64('CA') }, { token: 't' })),
    );
    const first = await auth.request();
    const second = await auth.request();
    expect(second.agent).toBe(first.agent);
    expect((first.agent as https.Agent & { keepAlive?: boolean }).keepAlive).toBe(true);
  });

  it('refuses what client-node refuses: no current cluster, plain http without skip-tls-verify', () => {
    expect(() => new KubeAuth({ clusters: [], users: [], contexts: [], currentContext: undefined })).toThrow(
      'no cluster found',
    );
    expect(() => new KubeAuth(loadKubeConfigData(kubeconfig({ server: 'http://127.0.0.1:8080' }, {})))).toThrow(
      'HTTP protocol is not allowed',
    );
  });
});
