// Wires one agent together: API clients, event recorder, runtime, node controller and pod
// controller, in start-up order, and takes them down again in reverse. `main.ts serve`
// calls startAgent with the real runtime; tests may pass a scripted runtime.

import type { Config } from "./config/types.ts";
import { type KubeClients, loadKubeConfig, makeClients } from "./kube/client.ts";
import { createEventRecorder, type EventRecorder } from "./kube/events.ts";
import { createNodeController, type NodeController } from "./node/controller.ts";
import { type HostFacts, hostFacts } from "./host/facts.ts";
import { createPodController, type PodController } from "./pods/controller.ts";
import type { PodRuntime } from "./runtime/types.ts";
import { type KubeletServer, startKubeletServer } from "./server/start.ts";
import type { Logger } from "./telemetry/log.ts";
import type { Tracer } from "@opentelemetry/api";
import { type HeldLock, LockedError, lockExclusive } from "./host/lock.ts";

export interface AgentDeps {
  /** Builds the runtime once clients and events exist. */
  runtime: (ctx: { clients: KubeClients; events: EventRecorder; host: HostFacts }) =>
    | PodRuntime
    | Promise<PodRuntime>;
  log: Logger;
  /** Traces pod syncs when set (see src/telemetry/tracing.ts). */
  tracer?: Tracer;
  /** Aborts start-up (a stop signal arrived): startAgent then cleans up and rejects. */
  signal?: AbortSignal;
  /** Overrides for tests: faster loops. */
  statusIntervalMs?: number;
  leaseIntervalMs?: number;
  /** Tests and benchmarks: a node that declares fewer features (default: all it implements). */
  declaredFeatures?: readonly string[];
}

export interface Agent {
  readonly node: NodeController;
  readonly pods: PodController;
  readonly runtime: PodRuntime;
  /** The kubelet API (logs, exec, attach, port-forward, stats) on KUBELET_PORT. */
  readonly server: KubeletServer;
  stop(): Promise<void>;
}

export class StartupTimeoutError extends Error {}

/** The locks that keep a second agent off this one's cache directory and VM bridge. */
async function agentLocks(config: Config): Promise<HeldLock[]> {
  const holder = `agent pid ${Deno.pid} (node ${config.nodeName})`;
  const fix = "; give this agent its own --cache-dir" +
    (config.backend === "qemu" ? ", --qemu-bridge and --qemu-subnet" : "") +
    " (and KUBELET_PORT), or stop the other agent";
  const locks: HeldLock[] = [];
  try {
    locks.push(
      await lockExclusive(
        `${config.cacheDir}/agent.lock`,
        holder,
        `cache directory ${config.cacheDir}`,
      ),
    );
    if (config.backend === "qemu") {
      locks.push(
        await lockExclusive(
          `/tmp/macos-vz-kubelet-locks/bridge-${config.qemu.bridge}.lock`,
          holder,
          `VM bridge ${config.qemu.bridge}`,
        ),
      );
    }
    return locks;
  } catch (err) {
    for (const l of locks) l.release();
    if (err instanceof LockedError) throw new LockedError(`${err.message}${fix}`);
    throw err;
  }
}

export async function startAgent(config: Config, deps: AgentDeps): Promise<Agent> {
  const { log } = deps;
  const locks = await agentLocks(config);
  const releaseLocks = () => locks.forEach((l) => l.release());
  let clients: KubeClients, events: EventRecorder, host: HostFacts, runtime: PodRuntime;
  try {
    clients = makeClients(loadKubeConfig(config));
    events = createEventRecorder(clients.core, config.nodeName, log);
    host = await hostFacts();
    runtime = await deps.runtime({ clients, events, host });
  } catch (err) {
    releaseLocks();
    throw err;
  }
  const status = runtime.status();
  if (!status.ready) log.warn("no VM can start on this node", { reason: status.message });

  const node = createNodeController({
    clients,
    config,
    host,
    runtime: () => runtime.status(),
    events,
    log,
    statusIntervalMs: deps.statusIntervalMs,
    leaseIntervalMs: deps.leaseIntervalMs,
    declaredFeatures: deps.declaredFeatures,
  });
  const pods = createPodController({
    clients,
    nodeName: config.nodeName,
    runtime,
    events,
    log,
    workers: config.podSyncWorkers,
    resyncPeriodMs: config.fullResyncPeriodSeconds * 1000,
    hostIP: config.podIp ?? host.primaryIPv4,
    tracer: deps.tracer,
  });

  const abort = new AbortController();
  deps.signal?.addEventListener("abort", () => abort.abort(deps.signal!.reason), { once: true });
  const timeoutMs = config.startupTimeoutSeconds * 1000;
  const timer = timeoutMs > 0
    ? setTimeout(
      () =>
        abort.abort(
          new StartupTimeoutError(
            `--startup-timeout: not started within ${config.startupTimeoutSeconds} s ` +
              `(API server unreachable or credentials refused; see the warnings above)`,
          ),
        ),
      timeoutMs,
    )
    : undefined;
  let server: KubeletServer;
  try {
    await node.register(abort.signal);
    await withSignal(pods.start(), abort.signal);
    server = await startKubeletServer(config, {
      clients,
      runtime,
      pods: { get: (ns, name) => pods.informer.get(name, ns), list: () => pods.informer.list() },
      log,
    });
  } catch (err) {
    node.stop();
    await pods.stop().catch(() => {});
    await runtime.close();
    releaseLocks();
    throw err;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  log.info("agent started", { node: config.nodeName, runtimeReady: status.ready });

  let stopping: Promise<void> | undefined;
  return {
    node,
    pods,
    runtime,
    server,
    stop() {
      stopping ??= (async () => {
        await server.stop();
        node.stop();
        await pods.stop();
        await runtime.close();
        releaseLocks();
        await events.flush();
        log.info("agent stopped", { node: config.nodeName });
      })();
      return stopping;
    },
  };
}

function withSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    p.then(resolve, reject);
  });
}
