// A scripted, in-process PodRuntime for testing the controllers and the kubelet API against a
// real API server. It runs no VMs: pods become Running after `startDelayMs`, stop after
// `stopDelayMs` (or at the grace period, whichever is first), and every call is recorded so
// tests can assert what was asked for. The kubelet-API operations do real work on this host
// (see scripted_streams.ts): exec runs commands with the local shell, logs are scripted,
// port-forward reaches local TCP ports.

import type * as k8s from "@kubernetes/client-node";
import { admitPod } from "../../src/runtime/admission.ts";
import {
  type ExecIO,
  type LogOptions,
  NotFoundError,
  type PodRuntime,
  type PodStats,
  type PortStream,
  type RuntimeStatus,
  type StatusListener,
  type TerminalSize,
  type VmLimits,
} from "../../src/runtime/types.ts";
import { attachConsole, forwardToLocal, runLocal, ScriptedLog } from "./scripted_streams.ts";

export interface ScriptedCall {
  op: "create" | "update" | "delete";
  key: string;
  uid?: string;
  grace?: number;
  at: number;
}

export interface ScriptedOptions {
  startDelayMs?: number;
  stopDelayMs?: number;
  maxPods?: number;
  limits?: VmLimits;
  dockerReachable?: boolean;
  podIP?: string;
  /** Port-forward: pod port -> local port on 127.0.0.1 (default: the same number). */
  portMap?: Record<number, number>;
}

export interface ScriptedExec {
  key: string;
  container: string;
  command: string[];
  tty: boolean;
  exitCode?: number;
}

interface Tracked {
  pod: k8s.V1Pod;
  state: "starting" | "running" | "stopped";
  startedAt?: Date;
  timer?: ReturnType<typeof setTimeout>;
}

export class ScriptedRuntime implements PodRuntime {
  readonly calls: ScriptedCall[] = [];
  readonly pods = new Map<string, Tracked>();
  readonly logs = new Map<string, ScriptedLog>();
  readonly previousLogs = new Map<string, ScriptedLog>();
  readonly execs: ScriptedExec[] = [];
  readonly resizes: TerminalSize[] = [];
  readonly forwards: { key: string; port: number }[] = [];
  private listeners: StatusListener[] = [];
  constructor(readonly opts: ScriptedOptions = {}) {}

  status(): RuntimeStatus {
    return {
      ready: true,
      reason: "BackendReady",
      message: "scripted test runtime",
      maxPods: this.opts.maxPods ?? 2,
      version: "scripted://1.0",
    };
  }

  admit(pod: k8s.V1Pod): string[] {
    return admitPod(pod, {
      limits: this.opts.limits ??
        { minCpus: 1, maxCpus: 4, minMemoryBytes: 2 ** 30, maxMemoryBytes: 8 * 2 ** 30 },
      dockerReachable: this.opts.dockerReachable ?? true,
      dockerHost: "unix:///nonexistent/docker.sock",
    });
  }

  private key(pod: k8s.V1Pod) {
    return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  }

  private notify(pod: k8s.V1Pod) {
    for (const l of this.listeners) l(pod.metadata!.namespace!, pod.metadata!.name!);
  }

  createPod(pod: k8s.V1Pod): Promise<void> {
    const key = this.key(pod);
    this.calls.push({ op: "create", key, uid: pod.metadata?.uid, at: Date.now() });
    const t: Tracked = { pod, state: "starting" };
    this.pods.set(key, t);
    t.timer = setTimeout(() => {
      t.state = "running";
      t.startedAt = new Date();
      this.notify(pod);
    }, this.opts.startDelayMs ?? 200);
    this.notify(pod);
    return Promise.resolve();
  }

  updatePod(pod: k8s.V1Pod): Promise<void> {
    const key = this.key(pod);
    this.calls.push({ op: "update", key, uid: pod.metadata?.uid, at: Date.now() });
    const t = this.pods.get(key);
    if (t) t.pod = pod;
    return Promise.resolve();
  }

  async deletePod(pod: k8s.V1Pod, grace: number): Promise<k8s.V1PodStatus | undefined> {
    const key = this.key(pod);
    this.calls.push({ op: "delete", key, uid: pod.metadata?.uid, grace, at: Date.now() });
    const t = this.pods.get(key);
    if (!t) return undefined;
    clearTimeout(t.timer);
    const wait = Math.min(this.opts.stopDelayMs ?? 100, grace * 1000);
    await new Promise((r) => setTimeout(r, wait));
    t.state = "stopped";
    for (const [k, l] of this.logs) if (k.startsWith(`${key}/`)) l.end();
    const final = this.statusOf(t);
    this.pods.delete(key);
    return final;
  }

  hasPod(ns: string, name: string, uid?: string): boolean {
    const t = this.pods.get(`${ns}/${name}`);
    return !!t && (uid === undefined || t.pod.metadata?.uid === uid);
  }

  podStatus(pod: k8s.V1Pod): k8s.V1PodStatus | undefined {
    const t = this.pods.get(this.key(pod));
    return t ? this.statusOf(t) : undefined;
  }

  private statusOf(t: Tracked): k8s.V1PodStatus {
    const running = t.state === "running";
    const ready = running ? "True" : "False";
    const podIP = running ? this.opts.podIP ?? "10.99.0.2" : undefined;
    return {
      phase: t.state === "stopped" ? "Succeeded" : running ? "Running" : "Pending",
      startTime: t.startedAt,
      podIP,
      podIPs: podIP ? [{ ip: podIP }] : undefined,
      conditions: [
        { type: "Initialized", status: "True" },
        { type: "ContainersReady", status: ready },
        { type: "Ready", status: ready },
      ],
      containerStatuses: (t.pod.spec?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? "",
        imageID: "",
        containerID: running || t.state === "stopped" ? `scripted://${c.name}` : undefined,
        ready: running,
        started: running,
        restartCount: 0,
        state: running
          ? { running: { startedAt: t.startedAt } }
          : t.state === "stopped"
          ? { terminated: { exitCode: 0, reason: "Completed", startedAt: t.startedAt } }
          : { waiting: { reason: "ContainerCreating" } },
      })),
    };
  }

  onStatusChange(fn: StatusListener): void {
    this.listeners.push(fn);
  }

  runningPods(): k8s.V1Pod[] {
    return [...this.pods.values()].filter((t) => t.state === "running").map((t) => t.pod);
  }

  /** The scripted log of a container (created empty on first use). */
  log(ns: string, pod: string, container: string, previous = false): ScriptedLog {
    const logs = previous ? this.previousLogs : this.logs;
    const key = `${ns}/${pod}/${container}`;
    let l = logs.get(key);
    if (!l) logs.set(key, l = new ScriptedLog());
    return l;
  }

  private requireContainer(ns: string, pod: string, container: string): Tracked {
    const t = this.pods.get(`${ns}/${pod}`);
    if (!t) throw new NotFoundError(`pod "${ns}/${pod}"`);
    if (!(t.pod.spec?.containers ?? []).some((c) => c.name === container)) {
      throw new NotFoundError(`container "${container}" in pod "${ns}/${pod}"`);
    }
    return t;
  }

  containerLogs(
    ns: string,
    pod: string,
    container: string,
    opts: LogOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    try {
      this.requireContainer(ns, pod, container);
    } catch (err) {
      return Promise.reject(err);
    }
    if (opts.previous && !this.previousLogs.has(`${ns}/${pod}/${container}`)) {
      return Promise.reject(
        new NotFoundError(`previous terminated container "${container}" in pod "${ns}/${pod}"`),
      );
    }
    return Promise.resolve(this.log(ns, pod, container, opts.previous).stream(opts));
  }

  async exec(
    ns: string,
    pod: string,
    container: string,
    command: string[],
    io: ExecIO,
  ): Promise<number> {
    this.requireContainer(ns, pod, container);
    const call: ScriptedExec = { key: `${ns}/${pod}`, container, command, tty: io.tty };
    this.execs.push(call);
    call.exitCode = await runLocal(command, io, this.resizes);
    return call.exitCode;
  }

  async attach(ns: string, pod: string, container: string, io: ExecIO): Promise<void> {
    this.requireContainer(ns, pod, container);
    await attachConsole(io, this.log(ns, pod, container));
  }

  async portForward(ns: string, pod: string, port: number, stream: PortStream): Promise<void> {
    if (!this.pods.has(`${ns}/${pod}`)) throw new NotFoundError(`pod "${ns}/${pod}"`);
    this.forwards.push({ key: `${ns}/${pod}`, port });
    await forwardToLocal(this.opts.portMap?.[port] ?? port, stream);
  }

  /** Fixed figures per running container: a quarter core, 256 MiB, CPU time since start. */
  stats(): Promise<PodStats[]> {
    const now = new Date();
    return Promise.resolve(
      [...this.pods.values()].filter((t) => t.state === "running").map((t) => {
        const started = t.startedAt ?? now;
        const seconds = Math.max(0, (now.getTime() - started.getTime()) / 1000);
        return {
          namespace: t.pod.metadata!.namespace!,
          name: t.pod.metadata!.name!,
          uid: t.pod.metadata?.uid ?? "",
          startTime: started,
          time: now,
          containers: (t.pod.spec?.containers ?? []).map((c) => ({
            name: c.name,
            startTime: started,
            cpuUsageNanoCores: 250_000_000,
            cpuUsageCoreNanoSeconds: Math.round(seconds * 250_000_000),
            memoryWorkingSetBytes: 256 * 2 ** 20,
            memoryUsageBytes: 300 * 2 ** 20,
          })),
        };
      }),
    );
  }
  close(): Promise<void> {
    this.listeners = [];
    return Promise.resolve();
  }
}
