// A scripted, in-process PodRuntime for testing the controllers against a real API server.
// It never runs anything: pods become Running after `startDelayMs`, stop after
// `stopDelayMs` (or at the grace period, whichever is first), and every call is recorded
// so tests can assert what the controller asked for.

import type * as k8s from "@kubernetes/client-node";
import { admitPod } from "../../src/runtime/admission.ts";
import {
  NotFoundError,
  type PodRuntime,
  type RuntimeStatus,
  type StatusListener,
  type VmLimits,
} from "../../src/runtime/types.ts";

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

  containerLogs(ns: string, pod: string): Promise<ReadableStream<Uint8Array>> {
    return Promise.reject(new NotFoundError(`pod ${ns}/${pod}`));
  }
  exec(ns: string, pod: string): Promise<number> {
    return Promise.reject(new NotFoundError(`pod ${ns}/${pod}`));
  }
  attach(ns: string, pod: string): Promise<void> {
    return Promise.reject(new NotFoundError(`pod ${ns}/${pod}`));
  }
  portForward(ns: string, pod: string): Promise<void> {
    return Promise.reject(new NotFoundError(`pod ${ns}/${pod}`));
  }
  stats() {
    return Promise.resolve([]);
  }
  close(): Promise<void> {
    this.listeners = [];
    return Promise.resolve();
  }
}
