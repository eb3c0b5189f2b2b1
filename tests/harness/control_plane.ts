// A real Kubernetes control plane for one test run: etcd, kube-apiserver (RBAC + Node
// authorizer + NodeRestriction), kube-controller-manager and kube-scheduler on free loopback
// ports, with a fresh PKI, kubeconfigs and per-process logs in a per-run directory.
import { type ApiClient, apiClient, waitFor } from "./api_client.ts";
import { type K8sBinaries, k8sBinaries } from "./k8s_binaries.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { createPki, type Pki, SERVICE_CIDR } from "./pki.ts";
import { freePort, looksLikePortClash } from "./ports.ts";
import { addShutdownHook, type Child, failOnExit, spawnLogged, tailLog } from "./process.ts";
import { makeRunDir, releaseRunDir } from "./run_dir.ts";

export interface NodeCredentials {
  kubeconfig: string;
  servingCert: string;
  servingKey: string;
  caCert: string;
}

export interface ControlPlane {
  /** Per-run dir: pki/, kubeconfigs, logs/<process>.log. */
  dir: string;
  /** https://127.0.0.1:<port> */
  apiServerUrl: string;
  /** Cluster CA PEM. */
  caCertPath: string;
  /** Kubeconfig of CN=admin, O=system:masters. */
  adminKubeconfig: string;
  kubectl: string;
  /** The client certificate the API server presents to kubelets. */
  kubeletClientCertPath: string;
  kubeletClientKeyPath: string;
  /** Kubeconfig with client cert CN=system:node:<name> plus serving cert; cached per name. */
  nodeCredentials(name: string): Promise<NodeCredentials>;
  /** SIGTERM all, SIGKILL after 5 s; idempotent; removes dir unless KEEP_TEST_WORLD=1. */
  stop(): Promise<void>;
  /** http://127.0.0.1:<port> of etcd. */
  etcdUrl: string;
  /** Wall-clock milliseconds startControlPlane took. */
  startupMs: number;
  /** The control-plane processes (for tests that check they are gone). */
  pids: number[];
  /** kube-apiserver's own Prometheus metrics (GET /metrics as admin). */
  apiServerMetrics(): Promise<string>;
}

export interface ControlPlaneOptions {
  dir?: string;
  /** Receives the harness's progress lines (process output goes to dir/logs). */
  log?: (line: string) => void;
  /**
   * kube-apiserver feature gates, e.g. `{ ExtendWebSocketsToKubelet: false }` for an API
   * server that translates WebSocket streams to SPDY instead of passing them to the kubelet.
   */
  featureGates?: Record<string, boolean>;
}

const START_ATTEMPTS = 3;
const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";

interface Context {
  dir: string;
  bins: K8sBinaries;
  pki: Pki;
  log: (line: string) => void;
  children: Child[];
  featureGates: Record<string, boolean>;
}

/** Spawns a process until it gets ready without a port clash (new ports each attempt). */
async function startWithRetry(
  ctx: Context,
  name: string,
  attempt: () => { command: string; args: string[]; ready: () => Promise<boolean> },
  timeoutMs: number,
): Promise<Child> {
  const logPath = `${ctx.dir}/logs/${name}.log`;
  for (let i = 1;; i++) {
    const { command, args, ready } = attempt();
    const child = await spawnLogged({ name, command, args, logPath });
    ctx.children.push(child);
    const died = failOnExit([child]);
    try {
      await Promise.race([died.promise, waitFor(`${name} to get ready`, ready, timeoutMs)]);
      return child;
    } catch (error) {
      await child.stop(1000);
      const clash = looksLikePortClash(await tailLog(logPath, 30));
      if (!clash || i >= START_ATTEMPTS) {
        const message = error instanceof Error ? error.message : String(error);
        const tail = message.includes("\n") ? "" : `\n${await tailLog(logPath, 30)}`;
        throw new Error(`${message}${tail}`);
      }
      ctx.log(`${name}: port clash, retrying with new ports`);
    } finally {
      died.cancel();
    }
  }
}

async function startEtcd(ctx: Context): Promise<string> {
  let url = "";
  await startWithRetry(ctx, "etcd", () => {
    const client = freePort();
    const peer = freePort();
    url = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    return {
      command: ctx.bins.etcd,
      args: [
        "--name=default",
        `--data-dir=${ctx.dir}/etcd`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        "--unsafe-no-fsync=true",
        "--log-level=warn",
      ],
      ready: async () => {
        const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        const body = await response.text();
        return response.ok && body.includes('"true"');
      },
    };
  }, 30_000);
  return url;
}

function advertiseAddress(): string | undefined {
  // Endpoints may not hold loopback addresses, so advertise a real interface when there is one.
  for (const iface of Deno.networkInterfaces()) {
    if (iface.family === "IPv4" && !iface.address.startsWith("127.")) return iface.address;
  }
  return undefined;
}

/** Starts kube-apiserver; resolves with its URL and an admin client once /readyz says ok. */
async function startApiServer(
  ctx: Context,
  etcdUrl: string,
  clients: ApiClient[],
): Promise<{ url: string; admin: ApiClient }> {
  let url = "";
  let admin: Promise<ApiClient> | undefined;
  const pki = ctx.pki;
  const advertise = advertiseAddress();
  await startWithRetry(ctx, "kube-apiserver", () => {
    const port = freePort();
    url = `https://127.0.0.1:${port}`;
    const client = apiClient({
      server: url,
      caCertPath: pki.caCert,
      clientCertPath: pki.admin.cert,
      clientKeyPath: pki.admin.key,
    });
    client.then((api) => clients.push(api), () => {});
    admin = client;
    return {
      command: ctx.bins.kubeApiserver,
      args: [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${port}`,
        ...(advertise ? [`--advertise-address=${advertise}`] : ["--endpoint-reconciler-type=none"]),
        `--tls-cert-file=${pki.apiServer.cert}`,
        `--tls-private-key-file=${pki.apiServer.key}`,
        `--client-ca-file=${pki.caCert}`,
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        `--kubelet-client-certificate=${pki.kubeletClient.cert}`,
        `--kubelet-client-key=${pki.kubeletClient.key}`,
        `--kubelet-certificate-authority=${pki.caCert}`,
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        "--allow-privileged=true",
        "--profiling=false",
        `--cert-dir=${ctx.dir}/apiserver-certs`,
        ...featureGateArgs(ctx.featureGates),
      ],
      ready: async () => {
        const { status, body } = await (await client).request("GET", "/readyz");
        return status === 200 && body === "ok";
      },
    };
  }, 60_000);
  return { url, admin: await admin! };
}

/** `--feature-gates=A=true,B=false`, or nothing for no gates. */
export function featureGateArgs(gates: Record<string, boolean>): string[] {
  const list = Object.entries(gates).map(([gate, on]) => `${gate}=${on}`);
  return list.length ? [`--feature-gates=${list.join(",")}`] : [];
}

async function startControllers(ctx: Context, apiServerUrl: string): Promise<void> {
  const pki = ctx.pki;
  const kcmKubeconfig = await writeKubeconfig(`${ctx.dir}/kube-controller-manager.kubeconfig`, {
    server: apiServerUrl,
    caCertPath: pki.caCert,
    clientCertPath: pki.controllerManager.cert,
    clientKeyPath: pki.controllerManager.key,
    user: "system:kube-controller-manager",
  });
  const schedulerKubeconfig = await writeKubeconfig(`${ctx.dir}/kube-scheduler.kubeconfig`, {
    server: apiServerUrl,
    caCertPath: pki.caCert,
    clientCertPath: pki.scheduler.cert,
    clientKeyPath: pki.scheduler.key,
    user: "system:kube-scheduler",
  });
  const logs = `${ctx.dir}/logs`;
  const [kcm, scheduler] = await Promise.all([
    spawnLogged({
      name: "kube-controller-manager",
      command: ctx.bins.kubeControllerManager,
      logPath: `${logs}/kube-controller-manager.log`,
      args: [
        `--kubeconfig=${kcmKubeconfig}`,
        "--leader-elect=false",
        "--secure-port=0",
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        "--controllers=*",
        "--profiling=false",
      ],
    }),
    spawnLogged({
      name: "kube-scheduler",
      command: ctx.bins.kubeScheduler,
      logPath: `${logs}/kube-scheduler.log`,
      args: [
        `--kubeconfig=${schedulerKubeconfig}`,
        "--leader-elect=false",
        "--secure-port=0",
        "--profiling=false",
      ],
    }),
  ]);
  ctx.children.push(kcm, scheduler);
}

/**
 * Stops clients before servers (scheduler and controller-manager, then kube-apiserver, then
 * etcd): a server stopping under live watches drains slowly. One shared SIGKILL deadline.
 */
async function stopInReverse(children: Child[], graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  const order = ["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"];
  const groups = order.map((name) => children.filter((child) => child.name === name));
  for (const group of groups) {
    await Promise.all(group.map((child) => child.stop(Math.max(deadline - Date.now(), 0))));
  }
}

/** Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const dir = opts.dir ?? await makeRunDir("vzk-control-plane-");
  await Deno.mkdir(`${dir}/logs`, { recursive: true });
  const [bins, pki] = await Promise.all([k8sBinaries(), createPki(`${dir}/pki`)]);
  const ctx: Context = { dir, bins, pki, log, children: [], featureGates: opts.featureGates ?? {} };
  const clients: ApiClient[] = [];
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      removeHook();
      for (const client of clients) client.close();
      await stopInReverse(ctx.children, 5000);
      if (!await releaseRunDir(dir)) log(`control plane: kept ${dir}`);
    })();
    return stopped;
  };
  const removeHook = addShutdownHook(stop);

  try {
    log(`control plane: dir ${dir}, pki ready after ${elapsed()}`);
    const etcdUrl = await startEtcd(ctx);
    log(`control plane: etcd ready at ${etcdUrl} after ${elapsed()}`);
    const { url: apiServerUrl, admin } = await startApiServer(ctx, etcdUrl, clients);
    log(`control plane: kube-apiserver ready at ${apiServerUrl} after ${elapsed()}`);
    await startControllers(ctx, apiServerUrl);
    const died = failOnExit(ctx.children);
    try {
      const path = "/api/v1/namespaces/default/serviceaccounts/default";
      const hasDefaultSa = async () => (await admin.request("GET", path)).status === 200;
      await Promise.race([died.promise, waitFor("default service account", hasDefaultSa, 60_000)]);
    } finally {
      died.cancel();
    }
    const startupMs = Date.now() - started;
    log(`control plane: ready after ${elapsed()}`);
    return await assemble(ctx, { apiServerUrl, etcdUrl, startupMs, stop, admin });
  } catch (error) {
    await stop();
    throw error;
  }
}

async function assemble(
  ctx: Context,
  parts: {
    apiServerUrl: string;
    etcdUrl: string;
    startupMs: number;
    stop: () => Promise<void>;
    admin: ApiClient;
  },
): Promise<ControlPlane> {
  const { dir, pki } = ctx;
  const adminKubeconfig = await writeKubeconfig(`${dir}/admin.kubeconfig`, {
    server: parts.apiServerUrl,
    caCertPath: pki.caCert,
    clientCertPath: pki.admin.cert,
    clientKeyPath: pki.admin.key,
    user: "admin",
  });
  const credentials: Map<string, Promise<NodeCredentials>> = new Map();
  const nodeCredentials = (name: string): Promise<NodeCredentials> => {
    let cached = credentials.get(name);
    if (!cached) {
      cached = issueNodeCredentials(pki, parts.apiServerUrl, name);
      credentials.set(name, cached);
      cached.catch(() => credentials.delete(name));
    }
    return cached;
  };
  return {
    dir,
    apiServerUrl: parts.apiServerUrl,
    caCertPath: pki.caCert,
    adminKubeconfig,
    kubectl: ctx.bins.kubectl,
    kubeletClientCertPath: pki.kubeletClient.cert,
    kubeletClientKeyPath: pki.kubeletClient.key,
    nodeCredentials,
    stop: parts.stop,
    etcdUrl: parts.etcdUrl,
    startupMs: parts.startupMs,
    pids: ctx.children.map((child) => child.pid),
    async apiServerMetrics() {
      const { status, body } = await parts.admin.request("GET", "/metrics");
      if (status !== 200) throw new Error(`kube-apiserver /metrics: HTTP ${status}: ${body}`);
      return body;
    },
  };
}

async function issueNodeCredentials(
  pki: Pki,
  server: string,
  name: string,
): Promise<NodeCredentials> {
  const node = await pki.issueNode(name);
  const kubeconfig = await writeKubeconfig(`${pki.dir}/nodes/${name}/kubeconfig`, {
    server,
    caCertPath: pki.caCert,
    clientCertPath: node.clientCert,
    clientKeyPath: node.clientKey,
    user: `system:node:${name}`,
  });
  return {
    kubeconfig,
    servingCert: node.servingCert,
    servingKey: node.servingKey,
    caCert: pki.caCert,
  };
}
