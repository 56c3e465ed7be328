import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import {
  newClusters,
  newContexts,
  newUsers,
  type Cluster,
  type Context,
  type User,
} from '@kubernetes/client-node/dist/config_types.js';
import { JobExecutorError } from '../../errors.js';

/**
 * The cluster and the credentials, read the way client-node's `KubeConfig` reads them (its own parsers and
 * authenticators, the same order of places and the same merge of several KUBECONFIG files) without
 * importing `KubeConfig` itself: its module imports client-node's generated API barrel, every API and model,
 * about 50 MB of code and heap that the runner does not use (it speaks to four kinds of object over its own
 * small client). An authenticator is loaded only for a user that needs it (OIDC's openid-client, the proxy
 * agents cost several MB each). test/unit/kube-config.test.ts checks the outcome against `KubeConfig`'s.
 */

const SERVICEACCOUNT_ROOT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Credentials and TLS files are read again after this long (client-node's token file refresh: 60 s). */
const REREAD_MS = 60_000;

export interface KubeConfigData {
  readonly clusters: Cluster[];
  readonly users: User[];
  readonly contexts: Context[];
  readonly currentContext: string | undefined;
}

function exists(file: string): boolean {
  try {
    fs.accessSync(file);
    return true;
  } catch {
    return false;
  }
}

function absolute(root: string, file: string | undefined): string | undefined {
  return file && !path.isAbsolute(file) ? path.join(root, file) : file;
}

/** One kubeconfig file, with its relative certificate paths made absolute (as client-node does). */
function fromFile(file: string): KubeConfigData {
  const obj = (parseYaml(fs.readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  const root = path.dirname(file);
  const clusters = newClusters(obj.clusters).map((c) => ({ ...c, caFile: absolute(root, c.caFile) }));
  const users = newUsers(obj.users).map((u) => ({
    ...u,
    certFile: absolute(root, u.certFile),
    keyFile: absolute(root, u.keyFile),
  }));
  const current = obj['current-context'];
  return {
    clusters,
    users,
    contexts: newContexts(obj.contexts),
    currentContext: typeof current === 'string' ? current : undefined,
  };
}

/** client-node's mergeConfig: names must not repeat; a later file's current-context wins. */
function merge(into: KubeConfigData, next: KubeConfigData): KubeConfigData {
  const add = <T extends { name: string }>(list: T[], items: T[], what: string) => {
    for (const item of items) {
      if (list.some((x) => x.name === item.name))
        throw new JobExecutorError('SETTINGS_INVALID', `kubeconfig: duplicate ${what}: ${item.name}`);
      list.push(item);
    }
  };
  const clusters = [...into.clusters];
  const users = [...into.users];
  const contexts = [...into.contexts];
  add(clusters, next.clusters, 'cluster');
  add(users, next.users, 'user');
  add(contexts, next.contexts, 'context');
  return { clusters, users, contexts, currentContext: next.currentContext ?? into.currentContext };
}

/** Inside a pod: the service account's token (read again as it rotates) and CA (client-node's loadFromCluster). */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, prefix = ''): KubeConfigData {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  const serverHost = net.isIPv6(host) ? `[${host}]` : host;
  const nsFile = `${prefix}${SERVICEACCOUNT_ROOT}/namespace`;
  const namespace = exists(nsFile) ? fs.readFileSync(nsFile, 'utf8') : undefined;
  return {
    clusters: [
      {
        name: 'inCluster',
        caFile: `${prefix}${SERVICEACCOUNT_ROOT}/ca.crt`,
        server: `${scheme}://${serverHost}:${port}`,
        skipTLSVerify: false,
      },
    ],
    users: [
      {
        name: 'inClusterUser',
        authProvider: { name: 'tokenFile', config: { tokenFile: `${prefix}${SERVICEACCOUNT_ROOT}/token` } },
      },
    ],
    contexts: [
      {
        cluster: 'inCluster',
        name: 'inClusterContext',
        user: 'inClusterUser',
        ...(namespace !== undefined ? { namespace } : {}),
      },
    ],
    currentContext: 'inClusterContext',
  };
}

/**
 * `file`, else what `KubeConfig.loadFromDefault()` finds: KUBECONFIG (several files merged), ~/.kube/config,
 * the pod's service account, and last `http://localhost:8080`.
 */
export function loadKubeConfigData(file?: string, env: NodeJS.ProcessEnv = process.env): KubeConfigData {
  if (file) return fromFile(file);
  const files = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f);
  if (files.length > 0) return files.slice(1).reduce((acc, f) => merge(acc, fromFile(f)), fromFile(files[0] as string));
  const home = env.HOME && exists(env.HOME) ? path.join(env.HOME, '.kube', 'config') : undefined;
  if (home && exists(home)) return fromFile(home);
  if (exists(`${SERVICEACCOUNT_ROOT}/token`)) return inClusterConfig(env);
  return {
    clusters: [{ name: 'cluster', server: 'http://localhost:8080', skipTLSVerify: false }],
    users: [{ name: 'user' }],
    contexts: [{ name: 'loaded-context', cluster: 'cluster', user: 'user' }],
    currentContext: 'loaded-context',
  };
}

/** client-node's authenticator interface (exec_auth.js, file_auth.js, oidc_auth.js, azure_auth.js, gcp_auth.js). */
interface Authenticator {
  isAuthProvider(user: User): unknown;
  applyAuthentication(user: User, opts: https.RequestOptions): Promise<void>;
}

type ProviderConfig = { name?: string; config?: Record<string, unknown> } | undefined;

/** client-node's authenticators, in its KubeConfig's order, each with the test its isAuthProvider makes. */
const AUTHENTICATORS: ReadonlyArray<{
  readonly wants: (user: User, p: ProviderConfig) => unknown;
  readonly load: () => Promise<Authenticator>;
}> = [
  {
    wants: (_u, p) => p?.name === 'azure',
    load: async () => new (await import('@kubernetes/client-node/dist/azure_auth.js')).AzureAuth(),
  },
  {
    wants: (_u, p) => p?.name === 'gcp',
    load: async () => new (await import('@kubernetes/client-node/dist/gcp_auth.js')).GoogleCloudPlatformAuth(),
  },
  {
    wants: (u, p) => u.exec || p?.name === 'exec' || p?.config?.exec,
    load: async () => new (await import('@kubernetes/client-node/dist/exec_auth.js')).ExecAuth(),
  },
  {
    wants: (_u, p) => p?.config?.tokenFile,
    load: async () => new (await import('@kubernetes/client-node/dist/file_auth.js')).FileAuth(),
  },
  {
    wants: (_u, p) => p?.name === 'oidc',
    load: async () => new (await import('@kubernetes/client-node/dist/oidc_auth.js')).OpenIDConnectAuth(),
  },
];

/** The authenticator client-node's KubeConfig would pick for `user`, loaded only now. */
async function authenticatorFor(user: User): Promise<Authenticator | undefined> {
  // The user entries are client-node's untyped kubeconfig fields (`any` in its typings).
  const provider = user.authProvider as ProviderConfig;
  const entry = AUTHENTICATORS.find((a) => a.wants(user, provider));
  const auth = await entry?.load();
  return auth?.isAuthProvider(user) ? auth : undefined;
}

/** A dependency of client-node (not of this package), resolved from client-node's place as it resolves it. */
async function importAsClientNode(name: string): Promise<unknown> {
  const require = createRequire(import.meta.resolve('@kubernetes/client-node'));
  return import(pathToFileURL(require.resolve(name)).href);
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return fs.readFileSync(file);
  return data ? Buffer.from(data, 'base64') : undefined;
}

export interface RequestAuth {
  readonly agent: http.Agent;
  readonly headers: Record<string, string>;
}

/**
 * Which connections a request goes over. `call`: a short request, over at most CALL_CONNECTIONS kept-alive
 * connections (a burst of 50 runs opened 50 TLS connections before, each a handshake and its buffers; the
 * burst's peak RSS fell by 2 MB with the bound). `stream`: a watch or a followed log, which holds its connection for as long as
 * it runs; its own pool has no bound, so streams never keep a call waiting (and calls never keep a stream).
 * `lease`: the claims' heartbeat, over one kept-alive connection of its own: behind a queue of calls to a slow
 * API server it could come too late, and peers would take over this instance's runs while they still run.
 */
export type ConnectionPool = 'call' | 'stream' | 'lease';
/** Concurrent short calls to the API server; more wait for a free connection (their timeout counts the wait). */
export const CALL_CONNECTIONS = 8;

/**
 * One cluster and user (the current context), turned into what each request needs: a keep-alive agent with
 * the TLS material (client-node 1.x made a new agent, and so a TLS handshake, per call), and the headers.
 */
export class KubeAuth {
  readonly server: string;
  readonly namespace: string | undefined;
  private readonly cluster: Cluster;
  private readonly user: User;
  private authenticator: Promise<Authenticator | undefined> | undefined;
  /** Promises, not agents: the first calls of a burst all wait for the one agent instead of each making one. */
  private readonly agents = new Map<string, Promise<http.Agent>>();
  private tls: { readonly at: number; readonly options: https.AgentOptions } | undefined;
  private readonly lastAgent: Partial<
    Record<ConnectionPool, { readonly options: https.AgentOptions; readonly agent: http.Agent }>
  > = {};

  constructor(data: KubeConfigData) {
    const context = data.contexts.find((c) => c.name === data.currentContext);
    const cluster = context && data.clusters.find((c) => c.name === context.cluster);
    if (!cluster) throw new JobExecutorError('SETTINGS_INVALID', 'no cluster found (set KUBECONFIG, or run in a pod)');
    this.cluster = cluster;
    this.user = data.users.find((u) => u.name === context.user) ?? { name: context.user };
    this.server = cluster.server;
    this.namespace = context.namespace;
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify)
      throw new JobExecutorError(
        'SETTINGS_INVALID',
        'kubeconfig: the HTTP protocol is not allowed when skipTLSVerify is not set or false',
      );
  }

  /** client-node's applyHTTPSOptions: CA, client certificate and key, TLS name and verification. */
  private tlsOptions(): https.AgentOptions {
    if (this.tls && Date.now() - this.tls.at < REREAD_MS) return this.tls.options;
    const c = this.cluster;
    const u = this.user;
    const ca = fileOrData(c.caFile, c.caData);
    const cert = fileOrData(u.certFile, u.certData);
    const key = fileOrData(u.keyFile, u.keyData);
    const options: https.AgentOptions = {
      ...(c.skipTLSVerify ? { rejectUnauthorized: false } : {}),
      ...(c.tlsServerName ? { servername: c.tlsServerName } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    };
    this.tls = { at: Date.now(), options };
    return options;
  }

  /** The agent and headers for one request (an exec plugin or a token file may give new credentials any time). */
  async request(pool: ConnectionPool = 'call'): Promise<RequestAuth> {
    const opts: https.RequestOptions & { headers: Record<string, string> } = { ...this.tlsOptions(), headers: {} };
    if (this.user.impersonateUser) opts.headers['Impersonate-User'] = this.user.impersonateUser;
    this.authenticator ??= authenticatorFor(this.user);
    const auth = await this.authenticator;
    if (auth) await auth.applyAuthentication(this.user, opts);
    if (this.user.token) opts.headers.Authorization = `Bearer ${this.user.token}`;
    // Basic credentials only where no token was given (Node's `auth` option, as client-node sets it, yields to one).
    if (this.user.username && !opts.headers.Authorization)
      opts.headers.Authorization = `Basic ${Buffer.from(`${this.user.username}:${this.user.password}`).toString('base64')}`;
    const agentOptions: https.AgentOptions = {
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
    };
    return { agent: await this.agent(agentOptions, pool), headers: opts.headers };
  }

  /** One keep-alive agent per pool and set of TLS material (a rotated certificate gets a new one). */
  private async agent(options: https.AgentOptions, pool: ConnectionPool): Promise<http.Agent> {
    // The same material as the last request's (the usual case: the files are read once a minute) is not keyed again.
    const last = this.lastAgent[pool];
    const fields = ['rejectUnauthorized', 'servername', 'ca', 'cert', 'key'] as const;
    if (last && fields.every((f) => last.options[f] === options[f])) return last.agent;
    const key = JSON.stringify([
      pool,
      options.rejectUnauthorized,
      options.servername,
      String(options.ca),
      String(options.cert),
      String(options.key),
    ]);
    const agent = await (this.agents.get(key) ?? this.newAgent(key, options, pool));
    this.lastAgent[pool] = { options, agent };
    return agent;
  }

  private newAgent(key: string, options: https.AgentOptions, pool: ConnectionPool): Promise<http.Agent> {
    const agent = this.makeAgent({
      ...options,
      ...(pool === 'call' ? { maxSockets: CALL_CONNECTIONS, maxFreeSockets: CALL_CONNECTIONS } : {}),
      ...(pool === 'lease' ? { maxSockets: 1, maxFreeSockets: 1 } : {}),
    });
    // Agents for material that has rotated away are let go (not destroyed: a watch may still be reading on one).
    if (this.agents.size >= 8) this.agents.clear();
    this.agents.set(key, agent);
    // A proxy agent that fails to load is not kept: the next request tries again.
    agent.catch(() => this.agents.get(key) === agent && this.agents.delete(key));
    return agent;
  }

  /** client-node's createAgent: a proxy agent for `proxy-url` (loaded only then), else plain keep-alive agents. */
  private async makeAgent(options: https.AgentOptions): Promise<http.Agent> {
    const { proxyUrl, server } = this.cluster;
    const base = { ...options, keepAlive: true };
    if (!proxyUrl) return server.startsWith('http:') ? new http.Agent(base) : new https.Agent(base);
    if (proxyUrl.startsWith('socks')) {
      const { SocksProxyAgent } = (await importAsClientNode('socks-proxy-agent')) as {
        SocksProxyAgent: new (url: string, o: https.AgentOptions) => http.Agent;
      };
      return new SocksProxyAgent(proxyUrl, base);
    }
    const proxies = (await importAsClientNode('hpagent')) as Record<
      'HttpProxyAgent' | 'HttpsProxyAgent',
      new (o: https.AgentOptions & { proxy: string }) => http.Agent
    >;
    return new proxies[server.startsWith('https') ? 'HttpsProxyAgent' : 'HttpProxyAgent']({ ...base, proxy: proxyUrl });
  }

  close(): void {
    for (const agent of this.agents.values())
      void agent.then(
        (a) => a.destroy(),
        () => undefined,
      );
    this.agents.clear();
    delete this.lastAgent.call;
    delete this.lastAgent.stream;
  }
}
