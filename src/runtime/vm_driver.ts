// The VM container's driver: one run of a pod's first container is one VM. A start ensures
// the image, takes a VM slot, creates (or adopts) the VM on the backend, boots it, learns its
// IP and waits until SSH answers. The run ends once, at the VM's first stop or failure. Guest
// I/O (exec, stats) goes over the run's SSH session (vm_guest.ts); attach is the VM's serial
// console (vm_console.ts).

import type * as k8s from "@kubernetes/client-node";
import type { SshCredentials } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";
import type { Vm, VmBackend, VmSpec } from "../vm/types.ts";
import { type SshSession, waitForSsh } from "../guest/ssh.ts";
import { prepareGuest } from "../guest/mounts.ts";
import { API_SERVICE_NAME } from "../network/api_proxy.ts";
import type { VmVolumes } from "../volumes/pod_volumes.ts";
import { stableMac } from "../network/mac.ts";
import { type HeldImage, type ImageSource, pullPolicyOf } from "./images.ts";
import type { SlotHolder, VmSlots } from "./slots.ts";
import { podKey, vmResources } from "./vm_spec.ts";
import { consoleLogStream, indexConsole } from "./console_logs.ts";
import {
  type ContainerDriver,
  type ContainerExit,
  type ContainerRun,
  StartError,
} from "./driver.ts";
import { guestExec, guestStats, type GuestStatsState } from "./vm_guest.ts";
import { createVmConsole } from "./vm_console.ts";
import { type ExecIO, type LogOptions, NotFoundError } from "./types.ts";

export interface VmDriverDeps {
  backend: VmBackend;
  images: ImageSource;
  slots: VmSlots;
  log: Logger;
  ssh: SshCredentials;
  sshReadinessTimeoutMs: number;
  /** Work directories of VMs: <stateDir>/<pod uid>. */
  stateDir: string;
  /** Reaches a guest over SSH, retrying until `timeoutMs`; waitForSsh unless a test scripts it. */
  connectGuest?: (
    host: string,
    credentials: SshCredentials,
    timeoutMs: number,
    signal?: AbortSignal,
  ) => Promise<SshSession>;
}

/** The VM container's driver, plus what the pod needs from its VM: the pod IP. */
export interface VmDriver extends ContainerDriver {
  /** The guest's address once the current run has one. */
  readonly podIP: string | undefined;
  /** The guest answers SSH (the run has started and not ended). */
  readonly reachable: boolean;
  /** The guest's OS, for how it is shut down and measured. */
  readonly os: "linux" | "darwin";
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

/** Resolves once `vm` has stopped (or failed): the guest is gone. */
function vmDown(vm: Vm): Promise<void> {
  return new Promise((resolve) => {
    const down = (s: string) => s === "stopped" || s === "error";
    if (down(vm.state)) return resolve();
    vm.onStateChange((s) => down(s) && resolve());
  });
}

export function workDirOf(stateDir: string, pod: k8s.V1Pod): string {
  return `${stateDir}/${pod.metadata!.uid}`;
}

/** What the VM driver needs from its pod. */
export interface VmPodHooks {
  /** Where the previous run's console is kept: <podDir>/logs. */
  logDir: string;
  /** The VM container's volumes as shares and in-guest mounts (set up by then). */
  volumes(): Promise<VmVolumes>;
  /** The VM container's environment (for exec sessions); podIP once the guest has one. */
  env(podIP: string | undefined): Promise<[string, string][]>;
  /** Readies the API server proxy for guests; the host's address they reach it at. */
  apiAccess?(): Promise<string | undefined>;
}

export function createVmDriver(
  pod: () => k8s.V1Pod,
  container: () => k8s.V1Container,
  deps: VmDriverDeps,
  hooks: VmPodHooks,
): VmDriver {
  const { backend, log } = deps;
  const uid = pod().metadata!.uid!;
  const workDir = workDirOf(deps.stateDir, pod());
  let held: HeldImage | undefined;
  let slot: SlotHolder | undefined;
  let vm: Vm | undefined;
  let ssh: SshSession | undefined;
  let sshClosed = false;
  let podIP: string | undefined;
  let up = false;
  /** Set while stop() runs: how the run ends is then the agent's doing. */
  let stopping: { graceful: boolean } | undefined;
  let endRun: ((exit: ContainerExit) => void) | undefined;
  const stats: GuestStatsState = {};
  const consoles = createVmConsole();
  const { logDir } = hooks;
  const previousLog = `${logDir}/${container().name}.previous.log`;
  const previousIndex = `${logDir}/${container().name}.previous.idx`;
  const consoleLog = `${workDir}/console.log`;
  const consoleIndex = `${workDir}/console.idx`;
  /** Aborted when the current run ends: console indexing and log follows stop. */
  let runEnded = AbortSignal.abort();
  let endIndexing = () => {};
  /** The environment of exec sessions, resolved at start. */
  let env: [string, string][] = [];
  const connect = deps.connectGuest ??
    ((host: string, credentials: SshCredentials, timeoutMs: number, signal?: AbortSignal) =>
      waitForSsh({ host, credentials }, timeoutMs, signal));

  function watchSession(s: SshSession) {
    ssh = s;
    sshClosed = false;
    s.closed.then(() => {
      if (ssh === s) sshClosed = true;
    });
  }

  /** The run's SSH session, reconnected if the guest dropped it (reboot, network blip). */
  async function session(): Promise<SshSession> {
    if (ssh && !sshClosed) return ssh;
    if (!podIP || !up) throw new Error(`pod ${podKey(pod())}: the VM does not answer SSH yet`);
    ssh?.close();
    watchSession(await connect(podIP, deps.ssh, 10_000));
    return ssh!;
  }

  function exitOf(state: string, reason?: string): ContainerExit {
    const finishedAt = new Date();
    if (stopping) {
      return stopping.graceful
        ? { exitCode: 0, reason: "Completed", message: "the guest shut down", finishedAt }
        : { exitCode: 137, reason: "Error", message: "the VM was stopped", finishedAt };
    }
    return state === "stopped"
      ? { exitCode: 0, reason: "Completed", message: reason ?? "the guest powered off", finishedAt }
      : { exitCode: 137, reason: "Error", message: reason ?? state, finishedAt };
  }

  async function pull(ctx: Parameters<ContainerDriver["start"]>[0]): Promise<HeldImage> {
    const c = container();
    const t0 = Date.now();
    ctx.waiting("ContainerCreating", `pulling image ${c.image}`);
    ctx.event("Normal", "Pulling", `Pulling image "${c.image}"`);
    let image: HeldImage;
    try {
      image = await deps.images.ensure(c.image!, {
        pod: pod(),
        policy: pullPolicyOf(c),
        signal: ctx.signal,
        onProgress: (message) => ctx.waiting("ContainerCreating", message),
      });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      // A reference that does not parse never will: the container waits, nothing retries.
      const invalid = /invalid image reference/.test(errText(err));
      throw new StartError(invalid ? "InvalidImageName" : "ErrImagePull", errText(err));
    }
    for (const f of image.replaced) {
      ctx.event("Warning", "ImageFileChanged", `${f} changed since it was verified; pulled again`);
    }
    ctx.event(
      "Normal",
      "Pulled",
      image.pulled
        ? `Successfully pulled image "${c.image}" in ${((Date.now() - t0) / 1000).toFixed(1)}s`
        : `Container image "${c.image}" already present on machine`,
    );
    return image;
  }

  async function spec(image: HeldImage): Promise<VmSpec> {
    return {
      id: uid,
      name: podKey(pod()),
      ...vmResources(pod()),
      image: image.image,
      workDir,
      mac: await stableMac(uid),
    };
  }

  return {
    name: container().name,
    get podIP() {
      return podIP;
    },
    get reachable() {
      return up && !!ssh;
    },
    get os() {
      return held?.image.os ?? "linux";
    },

    async start(ctx): Promise<ContainerRun> {
      const { signal } = ctx;
      stopping = undefined;
      held = await pull(ctx);
      signal.throwIfAborted();
      ctx.imagePresent(held.imageID);
      // Missing config maps or secrets show before a VM slot is taken.
      env = await hooks.env(undefined);
      const volumes = await hooks.volumes();

      // The slot is taken after the pull: a pod waiting for a slot has its image ready, and
      // a pod whose image cannot be pulled never holds a VM slot.
      slot = deps.slots.tryAcquire();
      if (!slot) {
        const { used, max } = deps.slots;
        ctx.waiting("WaitingForVMSlot", `waiting for a VM slot (${used}/${max} in use)`);
        slot = await deps.slots.acquire(signal);
      }
      const vmSpec = { ...await spec(held), shares: volumes.shares };
      const problems = backend.validate(vmSpec);
      if (problems.length) throw new StartError("CreateContainerError", problems.join("; "));
      ctx.waiting("ContainerCreating", "cloning the disk and creating the VM");
      const hadVm = await Deno.stat(workDir).then(() => true, () => false);
      const adopted = vm = await backend.adopt?.(vmSpec);
      signal.throwIfAborted();
      if (hadVm && !adopted) {
        const message = "the pod's VM was not running when the agent started; " +
          "starting a fresh one from the image";
        ctx.event("Warning", "VMLost", message);
        ctx.previousRunLost(message);
        await backend.cleanup(uid, workDir);
      }
      const current = vm = adopted ?? await backend.create(vmSpec);
      const exited = new Promise<ContainerExit>((resolve) => {
        let done = false;
        endRun = (exit) => {
          if (done) return;
          done = true;
          up = false;
          endIndexing();
          resolve(exit);
        };
      });
      // The run ends at the first stop or failure the VM reports (a failing VM may report
      // both); while stop() runs, stop() ends it, knowing whether the guest shut down in time.
      current.onStateChange((s, reason) => {
        if (!stopping && (s === "stopped" || s === "error")) endRun?.(exitOf(s, reason));
      });
      if (current.state !== "running") {
        signal.throwIfAborted();
        ctx.event("Normal", "Created", `Created container ${container().name}`);
        await current.start();
        ctx.event("Normal", "Started", `Started container ${container().name}`);
      } else log.info("adopted a running VM", { pod: podKey(pod()) });
      up = true;
      const indexing = new AbortController();
      runEnded = indexing.signal;
      endIndexing = () => indexing.abort();
      indexConsole(consoleLog, consoleIndex, runEnded).catch((err) =>
        log.warn("console index stopped", { pod: podKey(pod()), error: errText(err) })
      );
      const containerID = `${backend.name}://${uid}`;
      // An adopted VM keeps the start time the API has for it (the run did not restart).
      const known = pod().status?.containerStatuses?.find((s) => s.name === container().name);
      const since = adopted && known?.containerID === containerID
        ? known.state?.running?.startedAt
        : undefined;
      ctx.running(containerID, since ? new Date(since) : new Date());

      const deadline = AbortSignal.any([signal, AbortSignal.timeout(deps.sshReadinessTimeoutMs)]);
      try {
        podIP = await current.ipAddress(deadline);
        watchSession(await connect(podIP, deps.ssh, deps.sshReadinessTimeoutMs, signal));
      } catch (err) {
        if (signal.aborted) throw err;
        throw new StartError("StartError", errText(err));
      }
      env = await hooks.env(podIP);
      // Asked once the guest is up: on a Mac the host's address on the VMs' network
      // (bridge100) exists only while a VM runs.
      const apiAddress = await hooks.apiAccess?.();
      try {
        await prepareGuest(ssh!, this.os, {
          mounts: volumes.mounts,
          hosts: apiAddress
            ? { address: apiAddress, names: [API_SERVICE_NAME, "kubernetes.default", "kubernetes"] }
            : undefined,
        });
      } catch (err) {
        ctx.event("Warning", "FailedMount", errText(err));
        throw new StartError("CreateContainerError", errText(err));
      }
      return { exited, adopted: !!adopted };
    },

    async stop(graceMs) {
      const current = vm;
      if (!current || current.state !== "running") {
        if (current) await current.stop({ graceful: false, timeoutMs: 0 });
        return;
      }
      stopping = { graceful: false };
      const deadline = Date.now() + graceMs;
      const command = this.os === "darwin" ? ["sudo", "shutdown", "-h", "now"] : ["poweroff"];
      if (podIP) {
        // Through session(), as exec and attach do: a session the guest dropped earlier is
        // opened again (the test guest ignores ACPI power-off, so without it a deletion waited
        // out the whole grace period). The guest may go before its sshd reports the command's
        // end: the wait ends as soon as the VM is down, or after at most 5 s.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          session().then((s) => s.exec(command)).catch(() => 255),
          vmDown(current),
          new Promise((r) => timer = setTimeout(r, Math.min(5_000, graceMs))),
        ]);
        clearTimeout(timer);
      }
      await current.stop({ graceful: true, timeoutMs: Math.max(0, deadline - Date.now()) });
      stopping.graceful = Date.now() <= deadline;
      endRun?.(exitOf("stopped"));
      stopping = undefined;
    },

    async release() {
      up = false;
      consoles.close();
      ssh?.close();
      ssh = undefined;
      const current = vm;
      vm = undefined;
      endRun?.(exitOf("stopped", "released"));
      endRun = undefined;
      if (current) {
        // The run's console outlives its VM as the previous run's log (kubectl logs --previous).
        await Deno.mkdir(logDir, { recursive: true });
        endIndexing();
        await Deno.copyFile(current.consoleLogPath(), previousLog).catch(() => {});
        await Deno.copyFile(consoleIndex, previousIndex).catch(() => {});
        // If QEMU cannot be made to go, the error reaches the caller (deletion retries).
        await current.destroy();
      }
      podIP = undefined;
      slot?.release();
      slot = undefined;
      held?.release();
      held = undefined;
    },

    remove() {
      return this.release();
    },

    address: () => Promise.resolve(podIP),

    detach() {
      consoles.close();
      ssh?.close();
      ssh = undefined;
      endRun = undefined;
      endIndexing(); // the next agent resumes the index
    },

    exec: (command: string[], io: ExecIO) => guestExec(session, () => env, command, io),
    attach(io: ExecIO) {
      if (!up || !vm) {
        throw new Error(`pod ${podKey(pod())}: container ${container().name} is not running`);
      }
      const current = vm;
      return consoles.attach({
        socketPath: () => current.consoleSocketPath?.(),
        logPath: consoleLog,
        indexPath: consoleIndex,
        ended: runEnded,
      }, io);
    },
    async logs(opts: LogOptions) {
      if (!opts.previous) {
        return consoleLogStream({ log: consoleLog, index: consoleIndex, ended: runEnded }, opts);
      }
      if (!(await Deno.stat(previousLog).then(() => true, () => false))) {
        throw new NotFoundError(`previous terminated container "${container().name}" in pod`);
      }
      return consoleLogStream({ log: previousLog, index: previousIndex }, {
        ...opts,
        follow: false,
      });
    },
    async stats() {
      if (!up || this.os !== "linux") return undefined;
      const s = await session().catch(() => undefined);
      return s ? await guestStats(s, stats).catch(() => undefined) : undefined;
    },
  };
}

/** After an agent restart: VMs no pod on this node owns any more are stopped and removed. */
export async function removeLeftoverVms(
  backend: VmBackend,
  owned: Set<string>,
  stateDir: string,
  log: Logger,
): Promise<void> {
  for (const id of await backend.leftovers()) {
    if (owned.has(id)) continue;
    log.warn("removing a VM no pod owns", { vm: id });
    await backend.cleanup(id, `${stateDir}/${id}`)
      .catch((err) => log.error("cannot remove leftover VM", { vm: id, error: errText(err) }));
  }
}
