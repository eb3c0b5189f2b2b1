// The real PodRuntime: one pod = one VM. For each pod it takes a VM slot, ensures the image,
// clones and starts the VM, finds its IP, waits for SSH, and reports every step as pod
// status and events; deletion shuts the guest down within the grace period and removes
// everything the pod held. Backend-neutral: qemu and vz both come in as a VmBackend.

import type * as k8s from "@kubernetes/client-node";
import type { SshCredentials } from "../config/types.ts";
import { type EventRecorder, podRef } from "../kube/events.ts";
import type { Logger } from "../telemetry/log.ts";
import type { Vm, VmBackend } from "../vm/types.ts";
import { type SshIO, type SshSession, waitForSsh } from "../guest/ssh.ts";
import { type GuestSample, nanoCores, sampleLinuxGuest } from "../guest/stats.ts";
import { type AdmissionContext, admitPod } from "./admission.ts";
import { type HeldImage, type ImageSource, pullPolicyOf } from "./images.ts";
import { newPodState, type PodState, podStatusFor } from "./pod_state.ts";
import { type SlotHolder, VmSlots } from "./slots.ts";
import { podKey, vmResources } from "./vm_spec.ts";
import { consoleLogStream } from "./console_logs.ts";
import { stableMac } from "../network/mac.ts";
import type { Reconciler } from "./reconcile.ts";
import {
  type ExecIO,
  NotFoundError,
  type PodRuntime,
  type PodStats,
  type RuntimeStatus,
  type StatusListener,
} from "./types.ts";

export interface VmRuntimeOptions {
  backend: VmBackend;
  images: ImageSource;
  events: EventRecorder;
  log: Logger;
  ssh: SshCredentials;
  sshReadinessTimeoutMs: number;
  /** Work directories of VMs: <stateDir>/<pod uid>. */
  stateDir: string;
  hostIP?: string;
  admission: () => AdmissionContext;
}

interface Entry {
  state: PodState;
  abort: AbortController;
  /** The start sequence; awaited by deletion so nothing is created behind its back. */
  running?: Promise<void>;
  slot?: SlotHolder;
  held?: HeldImage;
  vm?: Vm;
  ssh?: SshSession;
  retry?: ReturnType<typeof setTimeout>;
  failures: number;
  /** Set when deletion starts: the VM stopping is then expected, not a failure. */
  deleting?: boolean;
  /** Previous stats sample, for CPU rate. */
  lastSample?: GuestSample;
  /** The SSH session ended (guest rebooted, connection lost): reconnect before use. */
  sshClosed?: boolean;
}

const BACKOFF_MS = (n: number) => Math.min(10_000 * 2 ** n, 300_000);
const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

export function createVmRuntime(opts: VmRuntimeOptions): PodRuntime & Reconciler {
  const { backend, events, log } = opts;
  const slots = new VmSlots(backend.maxRunning);
  const entries = new Map<string, Entry>();
  const listeners: StatusListener[] = [];

  const notify = (e: Entry) => {
    const m = e.state.pod.metadata!;
    for (const l of listeners) l(m.namespace!, m.name!);
  };
  const record = (e: Entry, type: "Normal" | "Warning", reason: string, message: string) => {
    const vm = e.state.pod.spec?.containers?.[0]?.name ?? "vm";
    events.record(podRef(e.state.pod, `spec.containers{${vm}}`), type, reason, message);
  };
  const waiting = (e: Entry, reason: string, message?: string) => {
    Object.assign(e.state, { stage: "waiting", waitingReason: reason, waitingMessage: message });
    notify(e);
  };

  async function start(e: Entry): Promise<void> {
    const { pod } = e.state;
    const signal = e.abort.signal;
    const uid = pod.metadata!.uid!;
    const vmContainer = pod.spec!.containers[0];
    const plog = log.with({ pod: podKey(pod) });

    waiting(e, "ContainerCreating", `pulling image ${vmContainer.image}`);
    const t0 = Date.now();
    record(e, "Normal", "Pulling", `Pulling image "${vmContainer.image}"`);
    try {
      e.held = await opts.images.ensure(vmContainer.image!, {
        pod,
        policy: pullPolicyOf(vmContainer),
        signal,
        onProgress: (message) => {
          e.state.waitingMessage = message;
          notify(e);
        },
      });
    } catch (err) {
      if (signal.aborted) throw err;
      throw Object.assign(new Error(errText(err)), { reason: "ErrImagePull" });
    }
    signal.throwIfAborted();
    for (const f of e.held.replaced) {
      record(e, "Warning", "ImageFileChanged", `${f} changed since it was verified; pulled again`);
    }
    record(
      e,
      "Normal",
      "Pulled",
      e.held.pulled
        ? `Successfully pulled image "${vmContainer.image}" in ${
          ((Date.now() - t0) / 1000).toFixed(1)
        }s`
        : `Container image "${vmContainer.image}" already present on machine`,
    );
    e.state.imageID = e.held.imageID;

    // The slot is taken after the pull: a pod waiting for a slot has its image ready, and a
    // pod whose image cannot be pulled never holds a VM slot.
    e.slot = slots.tryAcquire();
    if (!e.slot) {
      waiting(e, "WaitingForVMSlot", `waiting for a VM slot (${slots.used}/${slots.max} in use)`);
      e.slot = await slots.acquire(signal);
    }
    const spec = {
      id: uid,
      name: podKey(pod),
      ...vmResources(pod),
      image: e.held.image,
      workDir: `${opts.stateDir}/${uid}`,
      mac: await stableMac(uid),
    };
    const problems = backend.validate(spec);
    if (problems.length) {
      throw Object.assign(new Error(problems.join("; ")), { reason: "CreateContainerError" });
    }
    waiting(e, "ContainerCreating", "cloning the disk and creating the VM");
    const hadVm = await Deno.stat(spec.workDir).then(() => true, () => false);
    const adopted = await backend.adopt?.(spec);
    signal.throwIfAborted();
    if (hadVm && !adopted) {
      record(
        e,
        "Warning",
        "VMLost",
        "the pod's VM was not running when the agent started; " +
          "starting a fresh one from the image",
      );
      await backend.cleanup(spec.id, spec.workDir);
      e.state.restartCount++;
    }
    const vm = e.vm = adopted ?? await backend.create(spec);
    vm.onStateChange((s, reason) => {
      if ((s === "error" || s === "stopped") && !signal.aborted && !e.deleting) {
        void vmEnded(e, s, reason);
      }
    });
    if (vm.state !== "running") {
      signal.throwIfAborted();
      record(e, "Normal", "Created", `Created container ${vmContainer.name}`);
      await vm.start();
      record(e, "Normal", "Started", `Started container ${vmContainer.name}`);
    } else plog.info("adopted a running VM");
    Object.assign(e.state, {
      stage: "running",
      startedAt: e.state.startedAt ?? new Date(),
      containerID: `${backend.name}://${uid}`,
      ready: false,
    });
    notify(e);

    const deadline = AbortSignal.any([signal, AbortSignal.timeout(opts.sshReadinessTimeoutMs)]);
    e.state.podIP = await vm.ipAddress(deadline);
    notify(e);
    e.ssh = await waitForSsh(
      { host: e.state.podIP, credentials: opts.ssh },
      opts.sshReadinessTimeoutMs,
      signal,
    );
    watchSession(e);
    await runPostStart(e, vmContainer);
    signal.throwIfAborted();
    e.state.ready = true;
    e.failures = 0;
    plog.info("pod ready", { ip: e.state.podIP });
    notify(e);
  }

  /**
   * The VM container's postStart exec hook, in the guest; Ready waits for it. A failing hook
   * fails the start (event FailedPostStartHook), as a kubelet kills such a container.
   */
  async function runPostStart(e: Entry, c: k8s.V1Container): Promise<void> {
    const command = c.lifecycle?.postStart?.exec?.command;
    if (!command?.length || !e.ssh) return;
    let stderr = "";
    const dec = new TextDecoder();
    const code = await e.ssh.exec(command, {
      stderr: (d) => void (stderr += dec.decode(d, { stream: true })),
      signal: e.abort.signal,
    });
    if (code !== 0) {
      const message = `postStart hook ${JSON.stringify(command)} exited ${code}` +
        (stderr.trim() ? `: ${stderr.trim().slice(0, 300)}` : "");
      record(e, "Warning", "FailedPostStartHook", message);
      throw Object.assign(new Error(message), { reason: "PostStartHookError" });
    }
  }

  /** The pod's SSH session, reconnected if the guest dropped it (reboot, network blip). */
  async function session(e: Entry): Promise<SshSession | undefined> {
    if (e.ssh && !e.sshClosed) return e.ssh;
    if (!e.state.podIP || e.state.stage !== "running") return undefined;
    e.ssh?.close();
    e.ssh = await waitForSsh(
      { host: e.state.podIP, credentials: opts.ssh },
      10_000,
      e.abort.signal,
    );
    watchSession(e);
    return e.ssh;
  }

  function watchSession(e: Entry) {
    const ssh = e.ssh;
    e.sshClosed = false;
    ssh?.closed.then(() => {
      if (e.ssh === ssh) e.sshClosed = true;
    });
  }

  function launch(e: Entry) {
    e.running = start(e).catch((err) => startFailed(e, err));
  }

  async function startFailed(e: Entry, err: unknown): Promise<void> {
    if (e.abort.signal.aborted) return;
    const reason = (err as { reason?: string }).reason ?? "StartError";
    const message = errText(err);
    log.warn("pod start failed", { pod: podKey(e.state.pod), reason, error: message });
    record(e, "Warning", "Failed", message);
    await release(e);
    if (reason === "ErrImagePull") {
      waiting(e, "ErrImagePull", message);
      return scheduleRetry(e, "ImagePullBackOff", `Back-off pulling image: ${message}`);
    }
    terminate(e, 128, reason, message);
  }

  /** The VM stopped or failed on its own. */
  async function vmEnded(e: Entry, s: string, reason?: string) {
    const exitCode = s === "stopped" ? 0 : 137;
    record(e, exitCode ? "Warning" : "Normal", exitCode ? "Failed" : "Completed", reason ?? s);
    await release(e);
    terminate(e, exitCode, exitCode ? "Error" : "Completed", reason);
  }

  function terminate(e: Entry, exitCode: number, reason: string, message?: string) {
    const policy = e.state.pod.spec?.restartPolicy ?? "Always";
    Object.assign(e.state, {
      stage: "terminated",
      ready: false,
      exitCode,
      terminatedReason: reason,
      terminatedMessage: message,
      finishedAt: new Date(),
    });
    notify(e);
    const restart = policy === "Always" || (policy === "OnFailure" && exitCode !== 0);
    if (restart) scheduleRetry(e, "CrashLoopBackOff", `Back-off restarting failed VM: ${message}`);
  }

  function scheduleRetry(e: Entry, reason: string, message: string) {
    const delay = BACKOFF_MS(e.failures++);
    record(e, "Warning", "BackOff", `${message} (retrying in ${Math.round(delay / 1000)}s)`);
    e.retry = setTimeout(() => {
      if (e.abort.signal.aborted || e.deleting) return;
      if (e.state.stage === "terminated") e.state.restartCount++;
      waiting(e, "ContainerCreating");
      launch(e);
    }, delay);
    if (e.state.stage === "waiting") waiting(e, reason, message);
  }

  /** Frees what a start held (VM, clone, slot, image hold). */
  async function release(e: Entry) {
    e.ssh?.close();
    e.ssh = undefined;
    const vm = e.vm;
    e.vm = undefined;
    if (vm) await vm.destroy().catch((err) => log.error("vm clean-up failed", { error: err }));
    e.slot?.release();
    e.slot = undefined;
    e.held?.release();
    e.held = undefined;
  }

  async function shutdownGuest(e: Entry, graceMs: number): Promise<boolean> {
    const vm = e.vm;
    if (!vm || vm.state !== "running") return false;
    const os = e.held?.image.os ?? "linux";
    const command = os === "darwin" ? ["sudo", "shutdown", "-h", "now"] : ["poweroff"];
    const deadline = Date.now() + graceMs;
    if (e.ssh) {
      await Promise.race([
        e.ssh.exec(command).catch(() => 255),
        new Promise((r) => setTimeout(r, Math.min(5_000, graceMs))),
      ]);
    }
    const rest = Math.max(0, deadline - Date.now());
    await vm.stop({ graceful: true, timeoutMs: rest });
    return Date.now() <= deadline;
  }

  function find(ns: string, name: string): Entry {
    const e = entries.get(`${ns}/${name}`);
    if (!e) throw new NotFoundError(`pod ${ns}/${name}`);
    return e;
  }

  /** After a restart: VMs no pod on this node owns any more are stopped and removed. */
  async function reconcile(pods: k8s.V1Pod[]): Promise<void> {
    const owned = new Set(pods.map((p) => p.metadata?.uid).filter((u) => u));
    for (const id of await backend.leftovers()) {
      if (owned.has(id)) continue;
      log.warn("removing a VM no pod owns", { vm: id });
      await backend.cleanup(id, `${opts.stateDir}/${id}`)
        .catch((err) => log.error("cannot remove leftover VM", { vm: id, error: err }));
    }
  }

  /** Runs `run` over the pod's SSH session with the kubelet API's streams. */
  async function guestSession(
    ns: string,
    name: string,
    container: string,
    io: ExecIO,
    run: (ssh: SshSession, sio: SshIO) => Promise<number>,
  ): Promise<number> {
    const e = find(ns, name);
    if (container !== e.state.pod.spec?.containers?.[0]?.name) {
      throw new NotFoundError(`container ${container} in pod ${ns}/${name}`);
    }
    const ssh = e.state.ready ? await session(e).catch(() => undefined) : undefined;
    if (!ssh) throw new Error(`pod ${ns}/${name}: the VM does not answer SSH yet`);
    const env = Object.fromEntries(
      (e.state.pod.spec!.containers[0].env ?? []).filter((v) => v.value !== undefined)
        .map((v) => [v.name, v.value!]),
    );
    // The caller's terminal size comes first on the resize stream: open the pty with it.
    let size = { rows: 24, cols: 80 };
    let resize = io.resize;
    if (io.tty && io.resize) {
      const reader = io.resize.getReader();
      const first = await Promise.race([
        reader.read(),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 1_000)),
      ]);
      if (first?.value) size = { rows: first.value.height, cols: first.value.width };
      reader.releaseLock();
      resize = first?.done ? undefined : io.resize;
    }
    const out = io.stdout?.getWriter();
    const err = io.stderr?.getWriter();
    try {
      return await run(ssh, {
        env,
        stdin: io.stdin,
        stdout: out ? (d) => out.write(d) : undefined,
        stderr: err ? (d) => err.write(d) : undefined,
        tty: io.tty ? size : undefined,
        resize,
        signal: io.signal,
      });
    } finally {
      out?.releaseLock();
      err?.releaseLock();
    }
  }

  return {
    reconcile,
    status(): RuntimeStatus {
      return {
        ready: true,
        reason: "BackendReady",
        message: `${backend.name} backend ready, ${slots.used}/${slots.max} VM slots in use`,
        maxPods: backend.maxRunning,
        version: backend.version,
      };
    },
    admit: (pod) => {
      const problems = admitPod(pod, opts.admission());
      if ((pod.spec?.containers?.length ?? 0) > 1 || pod.spec?.initContainers?.length) {
        problems.push(
          "spec.containers: sidecar and init containers are not supported by this build yet; " +
            "run the VM container alone",
        );
      }
      return problems;
    },
    createPod(pod) {
      const e: Entry = { state: newPodState(pod), abort: new AbortController(), failures: 0 };
      entries.set(podKey(pod), e);
      launch(e);
      notify(e);
      return Promise.resolve();
    },
    updatePod(pod) {
      const e = entries.get(podKey(pod));
      if (e) e.state.pod = pod;
      return Promise.resolve();
    },
    async deletePod(pod, grace) {
      const e = entries.get(podKey(pod));
      if (!e) return undefined;
      e.deleting = true;
      clearTimeout(e.retry);
      const graceful = e.vm?.state === "running" ? await shutdownGuest(e, grace * 1000) : false;
      e.abort.abort(new Error("pod deleted"));
      clearTimeout(e.retry);
      await e.running;
      // Destroyed here, not in release() which only logs: if QEMU cannot be made to go, the
      // error reaches the pod controller, which keeps the pod object and retries.
      if (e.vm) {
        await e.vm.destroy();
        e.vm = undefined;
      }
      await release(e);
      entries.delete(podKey(pod));
      if (e.state.stage !== "terminated") {
        Object.assign(e.state, {
          stage: "terminated",
          ready: false,
          exitCode: graceful ? 0 : 137,
          terminatedReason: graceful ? "Completed" : "Error",
          terminatedMessage: graceful ? "the guest shut down" : "the VM was stopped",
          finishedAt: new Date(),
        });
      }
      return podStatusFor(e.state, opts.hostIP);
    },
    hasPod(ns, name, uid) {
      const e = entries.get(`${ns}/${name}`);
      return !!e && (uid === undefined || e.state.pod.metadata?.uid === uid);
    },
    podStatus(pod) {
      const e = entries.get(podKey(pod));
      return e ? podStatusFor(e.state, opts.hostIP) : undefined;
    },
    onStatusChange: (fn) => void listeners.push(fn),
    runningPods: () =>
      [...entries.values()].filter((e) => e.state.stage === "running").map((e) => e.state.pod),
    containerLogs(ns, name, container, logOpts) {
      const e = find(ns, name);
      const vmName = e.state.pod.spec?.containers?.[0]?.name;
      if (container !== vmName) {
        return Promise.reject(new NotFoundError(`container ${container} in pod ${ns}/${name}`));
      }
      return Promise.resolve(
        consoleLogStream(`${opts.stateDir}/${e.state.pod.metadata!.uid}/console.log`, logOpts),
      );
    },
    exec(ns, name, container, command, io: ExecIO) {
      return guestSession(ns, name, container, io, (ssh, sio) => ssh.exec(command, sio));
    },
    async attach(ns, name, container, io) {
      // A VM has no main process to attach to: attach opens an interactive login shell.
      await guestSession(
        ns,
        name,
        container,
        io,
        (ssh, sio) => ssh.execLine('exec "${SHELL:-/bin/sh}" -l', sio),
      );
    },
    async portForward(ns, name, port, stream) {
      const e = find(ns, name);
      if (!e.state.podIP || e.state.stage !== "running") {
        throw new Error(`pod ${ns}/${name}: the VM is not running`);
      }
      const conn = await Deno.connect({ hostname: e.state.podIP, port });
      const abort = () => {
        try {
          conn.close();
        } catch { /* closed */ }
      };
      stream.signal?.addEventListener("abort", abort, { once: true });
      try {
        await Promise.all([
          stream.readable.pipeTo(conn.writable).catch(() => {}),
          conn.readable.pipeTo(stream.writable).catch(() => {}),
        ]);
      } finally {
        stream.signal?.removeEventListener("abort", abort);
        abort();
      }
    },
    async stats(): Promise<PodStats[]> {
      const out: PodStats[] = [];
      for (const e of entries.values()) {
        if (e.state.stage !== "running" || !e.state.ready) continue;
        const ssh = await session(e).catch(() => undefined);
        if (!ssh) continue;
        if ((e.held?.image.os ?? "linux") !== "linux") continue;
        const sample = await sampleLinuxGuest(ssh).catch(() => undefined);
        if (!sample) continue;
        const cores = nanoCores(e.lastSample, sample);
        e.lastSample = sample;
        const m = e.state.pod.metadata!;
        out.push({
          namespace: m.namespace!,
          name: m.name!,
          uid: m.uid!,
          startTime: e.state.startedAt,
          time: sample.time,
          containers: [{
            name: e.state.pod.spec!.containers[0].name,
            startTime: e.state.startedAt,
            cpuUsageCoreNanoSeconds: sample.cpuNanoSeconds,
            cpuUsageNanoCores: cores,
            memoryWorkingSetBytes: sample.memoryUsedBytes,
            memoryUsageBytes: sample.memoryUsedBytes,
          }],
        });
      }
      return out;
    },
    async close() {
      // Stop all work in flight (starts, retries, listeners) but leave the VMs running: the
      // next agent adopts them. Without this a start still running here could create a VM
      // after the next agent had already decided what to keep.
      for (const e of entries.values()) {
        e.abort.abort(new Error("agent stopping"));
        clearTimeout(e.retry);
      }
      await Promise.all([...entries.values()].map((e) => e.running));
      for (const e of entries.values()) e.ssh?.close();
      await backend.close();
    },
  };
}
