// A scripted VmBackend, image source and guest SSH for testing the runtime's coordination
// (restart policy, slots, adoption, deletion) in-process, without QEMU. VMs "boot" at once
// and can be made to stop or fail on demand, including the double report (error, then
// stopped) a real hypervisor may give. Never the product's backend: tests only.

import type { ObjectReader } from "../../src/kube/objects.ts";
import type { Vm, VmBackend, VmSpec, VmState } from "../../src/vm/types.ts";
import type { HeldImage, ImageSource } from "../../src/runtime/images.ts";
import type { SshSession } from "../../src/guest/ssh.ts";
import type { EventRecorder } from "../../src/kube/events.ts";
import { createPodRuntime } from "../../src/runtime/pod_runtime.ts";
import type { Logger } from "../../src/telemetry/log.ts";

export class ScriptedVm implements Vm {
  state: VmState = "created";
  reason?: string;
  #listeners: ((s: VmState, r?: string) => void)[] = [];
  constructor(readonly spec: VmSpec, readonly backend: ScriptedBackend) {}
  get id() {
    return this.spec.id;
  }
  get mac() {
    return this.spec.mac ?? "02:00:00:00:00:01";
  }
  emit(state: VmState, reason?: string) {
    this.state = state;
    this.reason = reason;
    for (const l of this.#listeners) l(state, reason);
  }
  start() {
    this.backend.starts++;
    this.emit("running");
    return Promise.resolve();
  }
  stop(_opts: { graceful: boolean; timeoutMs: number }) {
    if (this.state !== "stopped") this.emit("stopped", "stopped by the agent");
    return Promise.resolve();
  }
  onStateChange(fn: (s: VmState, r?: string) => void) {
    this.#listeners.push(fn);
  }
  ipAddress() {
    return Promise.resolve("10.9.0.2");
  }
  consoleLogPath() {
    return `${this.spec.workDir}/console.log`;
  }
  destroy() {
    this.backend.destroyed++;
    this.backend.live.delete(this);
    this.state = "stopped";
    return Promise.resolve();
  }
}

export class ScriptedBackend implements VmBackend {
  readonly name = "qemu";
  readonly version = "scripted://1";
  starts = 0;
  destroyed = 0;
  readonly live = new Set<ScriptedVm>();
  constructor(readonly maxRunning = 2) {}
  validate() {
    return [];
  }
  create(spec: VmSpec) {
    const vm = new ScriptedVm(spec, this);
    this.live.add(vm);
    return Promise.resolve(vm);
  }
  leftovers() {
    return Promise.resolve([]);
  }
  cleanup() {
    return Promise.resolve();
  }
  close() {
    return Promise.resolve();
  }
  /** The running VM of the pod with `uid`. */
  vmOf(uid: string): ScriptedVm | undefined {
    return [...this.live].find((v) => v.spec.id === uid);
  }
}

export function scriptedImages(): ImageSource & { held: number } {
  const source = {
    held: 0,
    ensure(): Promise<HeldImage> {
      source.held++;
      return Promise.resolve({
        image: { os: "linux", disk: "/dev/null", kernel: "/dev/null" },
        imageID: "registry.test/vm@sha256:" + "0".repeat(64),
        pulled: false,
        replaced: [],
        release: () => void source.held--,
      });
    },
  };
  return source;
}

/** An SSH session whose exec answers with `exec(argv)`'s exit code. */
export function scriptedSsh(exec: (argv: string[]) => number = () => 0) {
  return (): Promise<SshSession> =>
    Promise.resolve({
      exec: (argv) => Promise.resolve(exec(argv)),
      execLine: () => Promise.resolve(0),
      close() {},
      closed: new Promise<void>(() => {}),
    });
}

/**
 * The real PodRuntime over a scripted backend, images and SSH (VMs of 1 to 4 CPUs, fast
 * back-off); `hook` answers the guest's exec (postStart hooks).
 */
export function scriptedPodRuntime(
  events: EventRecorder,
  log: Logger,
  stateDir: string,
  parts: {
    backend?: ScriptedBackend;
    images?: ImageSource;
    hook?: (argv: string[]) => number;
    /** First crash-loop back-off; the maximum is four times it (default 20 ms). */
    backoffMs?: number;
    /** The API reader for volumes and env (config maps, secrets, tokens); none by default. */
    reader?: ObjectReader;
  } = {},
) {
  return createPodRuntime({
    backend: parts.backend ?? new ScriptedBackend(2),
    images: parts.images ?? scriptedImages(),
    events,
    log,
    ssh: { user: "root" },
    sshReadinessTimeoutMs: 5_000,
    stateDir,
    podsDir: `${stateDir}/pods`,
    nodeName: "node-1",
    nodeCpus: 4,
    nodeMemoryBytes: 8 * 2 ** 30,
    admission: () => ({
      limits: { minCpus: 1, maxCpus: 4, minMemoryBytes: 1, maxMemoryBytes: 2 ** 40 },
      dockerReachable: false,
      dockerHost: "unix:///nowhere",
    }),
    backoff: { initialMs: parts.backoffMs ?? 20, maxMs: 4 * (parts.backoffMs ?? 20) },
    connectGuest: scriptedSsh(parts.hook),
    reader: parts.reader,
  });
}
