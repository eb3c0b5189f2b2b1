// The PodRuntime: each pod is a small coordinator over its containers' drivers. It owns the
// order (init containers, then the VM and the sidecars), runs every container through the
// shared lifecycle (lifecycle.ts), builds the pod's status from their states, and routes the
// kubelet API's logs/exec/attach/port-forward/stats to the container they name. Deletion
// stops every run within the grace period and releases what each held.

import type * as k8s from "@kubernetes/client-node";
import { type EventRecorder, podRef } from "../kube/events.ts";
import { type AdmissionContext, admitPod } from "./admission.ts";
import { newContainerState, toTerminated } from "./container_state.ts";
import {
  type ContainerEntry,
  type LifecycleHost,
  newContainerEntry,
  runLifecycle,
} from "./lifecycle.ts";
import { buildPodStatus, type PodView } from "./pod_status.ts";
import { containerRestartPolicy } from "./restart.ts";
import { postStartCommand, runExecHook } from "./hooks.ts";
import { VmSlots } from "./slots.ts";
import { podKey } from "./vm_spec.ts";
import {
  createVmDriver,
  removeLeftoverVms,
  type VmDriver,
  type VmDriverDeps,
} from "./vm_driver.ts";
import type { Reconciler } from "./reconcile.ts";
import {
  NotFoundError,
  type PodRuntime,
  type PodStats,
  type RuntimeStatus,
  type StatusListener,
} from "./types.ts";

export interface PodRuntimeOptions extends Omit<VmDriverDeps, "slots"> {
  events: EventRecorder;
  hostIP?: string;
  admission: () => AdmissionContext;
  /** Crash-loop and image-pull back-off; the kubelet's (10 s to 5 min) unless a test sets it. */
  backoff?: { initialMs: number; maxMs: number };
}

interface PodEntry {
  pod: k8s.V1Pod;
  acceptedAt: Date;
  abort: AbortController;
  vm: ContainerEntry & { driver: VmDriver };
  init: ContainerEntry[];
  /** spec.containers in order: the VM first. */
  containers: ContainerEntry[];
  /** Every container's lifecycle; settles once none will run again or the pod is stopped. */
  done?: Promise<void>;
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

export function createPodRuntime(opts: PodRuntimeOptions): PodRuntime & Reconciler {
  const { backend, events, log } = opts;
  const slots = new VmSlots(backend.maxRunning);
  const entries = new Map<string, PodEntry>();
  const listeners: StatusListener[] = [];

  const notify = (e: PodEntry) => {
    const m = e.pod.metadata!;
    for (const l of listeners) l(m.namespace!, m.name!);
  };

  function view(e: PodEntry): PodView {
    return {
      pod: e.pod,
      acceptedAt: e.acceptedAt,
      podIP: e.vm.driver.podIP,
      hostIP: opts.hostIP,
      init: e.init.map((c) => c.state),
      containers: e.containers.map((c) => c.state),
      sandboxReady: e.vm.state.stage === "running" || !!e.vm.state.last,
    };
  }

  function host(e: PodEntry): LifecycleHost {
    return {
      log: log.with({ pod: podKey(e.pod) }),
      notify: () => notify(e),
      event(c, type, reason, message) {
        const list = c.kind === "init" ? "initContainers" : "containers";
        events.record(podRef(e.pod, `spec.${list}{${c.state.name}}`), type, reason, message);
      },
      async postStart(c, signal) {
        const command = postStartCommand(c.spec());
        if (!command) return;
        try {
          await runExecHook(c.driver, "postStart", command, signal);
        } catch (err) {
          if (!signal.aborted) this.event(c, "Warning", "FailedPostStartHook", errText(err));
          throw err;
        }
      },
      started(c) {
        if (c === e.vm) log.info("pod ready", { pod: podKey(e.pod), ip: e.vm.driver.podIP });
      },
    };
  }

  function newEntry(pod: k8s.V1Pod): PodEntry {
    const e = { pod, acceptedAt: new Date(), abort: new AbortController() } as PodEntry;
    const vmSpec = () => e.pod.spec!.containers[0];
    const driver = createVmDriver(() => e.pod, vmSpec, { ...opts, slots });
    e.vm = Object.assign(
      newContainerEntry({
        spec: vmSpec,
        kind: "regular",
        policy: containerRestartPolicy(pod, vmSpec(), "regular"),
        state: newContainerState(vmSpec()),
        driver,
      }, opts.backoff),
      { driver },
    );
    e.init = [];
    e.containers = [e.vm];
    return e;
  }

  async function runPod(e: PodEntry): Promise<void> {
    const signal = e.abort.signal;
    await Promise.all(e.containers.map((c) => runLifecycle(c, host(e), signal)));
  }

  function find(ns: string, name: string): PodEntry {
    const e = entries.get(`${ns}/${name}`);
    if (!e) throw new NotFoundError(`pod ${ns}/${name}`);
    return e;
  }

  function container(ns: string, name: string, container: string): ContainerEntry {
    const e = find(ns, name);
    const c = [...e.init, ...e.containers].find((c) => c.state.name === container);
    if (!c) throw new NotFoundError(`container ${container} in pod ${ns}/${name}`);
    return c;
  }

  /** Stops every run of the pod within the grace period; records how each ended. */
  async function stopAll(e: PodEntry, graceMs: number): Promise<void> {
    await Promise.all([...e.init, ...e.containers].map(async (c) => {
      const run = c.run;
      if (!run) return;
      await c.driver.stop(graceMs);
      const exit = await Promise.race([
        run.exited,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 1_000)),
      ]);
      c.run = undefined;
      toTerminated(
        c.state,
        exit ?? {
          exitCode: 137,
          reason: "Error",
          message: "stopped with the pod",
          finishedAt: new Date(),
        },
      );
    }));
  }

  return {
    async reconcile(pods) {
      const owned = new Set(pods.map((p) => p.metadata?.uid).filter((u): u is string => !!u));
      await removeLeftoverVms(backend, owned, opts.stateDir, log);
    },
    status(): RuntimeStatus {
      return {
        ready: true,
        reason: "BackendReady",
        message: `${backend.name} backend ready, ${slots.used}/${slots.max} VM slots in use`,
        maxPods: backend.maxRunning,
        version: backend.version,
      };
    },
    admit(pod) {
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
      const e = newEntry(pod);
      entries.set(podKey(pod), e);
      e.done = runPod(e).catch((err) =>
        log.error("pod run failed", { pod: podKey(pod), error: errText(err) })
      );
      notify(e);
      return Promise.resolve();
    },
    updatePod(pod) {
      const e = entries.get(podKey(pod));
      if (e) e.pod = pod;
      return Promise.resolve();
    },
    async deletePod(pod, grace) {
      const e = entries.get(podKey(pod));
      if (!e) return undefined;
      e.abort.abort(new Error("pod deleted"));
      await e.done;
      await stopAll(e, grace * 1000);
      // Released here, and errors thrown: if a VM cannot be made to go, the pod controller
      // keeps the pod object and retries the deletion.
      for (const c of [...e.init, ...e.containers]) await c.driver.release();
      entries.delete(podKey(pod));
      return buildPodStatus(view(e));
    },
    hasPod(ns, name, uid) {
      const e = entries.get(`${ns}/${name}`);
      return !!e && (uid === undefined || e.pod.metadata?.uid === uid);
    },
    podStatus(pod) {
      const e = entries.get(podKey(pod));
      return e ? buildPodStatus(view(e)) : undefined;
    },
    onStatusChange: (fn) => void listeners.push(fn),
    runningPods: () =>
      [...entries.values()].filter((e) => e.containers.some((c) => c.state.stage === "running"))
        .map((e) => e.pod),
    containerLogs: (ns, name, c, logOpts) => container(ns, name, c).driver.logs(logOpts),
    exec: (ns, name, c, command, io) => container(ns, name, c).driver.exec(command, io),
    attach: (ns, name, c, io) => container(ns, name, c).driver.attach(io),
    async portForward(ns, name, port, stream) {
      const e = find(ns, name);
      const ip = e.vm.driver.podIP;
      if (!ip || e.vm.state.stage !== "running") {
        throw new Error(`pod ${ns}/${name}: the VM is not running`);
      }
      await forwardTo(ip, port, stream);
    },
    async stats(): Promise<PodStats[]> {
      const out: PodStats[] = [];
      for (const e of entries.values()) {
        const containers = [];
        for (const c of e.containers) {
          if (c.state.stage !== "running" || !c.state.started) continue;
          const s = await c.driver.stats();
          if (s) containers.push({ name: c.state.name, startTime: c.state.startedAt, ...s });
        }
        if (!containers.length) continue;
        const m = e.pod.metadata!;
        out.push({
          namespace: m.namespace!,
          name: m.name!,
          uid: m.uid!,
          startTime: e.pod.status?.startTime ?? e.acceptedAt,
          time: new Date(),
          containers,
        });
      }
      return out;
    },
    async close() {
      // Stop all work in flight (starts, back-offs, hooks) but leave the runs going: the next
      // agent adopts them. Without this a start still running here could create a VM after
      // the next agent had already decided what to keep.
      for (const e of entries.values()) e.abort.abort(new Error("agent stopping"));
      await Promise.all([...entries.values()].map((e) => e.done));
      for (const e of entries.values()) {
        for (const c of [...e.init, ...e.containers]) c.driver.detach();
      }
      await backend.close();
    },
  };
}

/** Pipes one forwarded connection to `ip:port` both ways until both directions end. */
async function forwardTo(
  ip: string,
  port: number,
  stream: Parameters<PodRuntime["portForward"]>[3],
): Promise<void> {
  const conn = await Deno.connect({ hostname: ip, port });
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
}
