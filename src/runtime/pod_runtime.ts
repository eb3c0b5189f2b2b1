// The PodRuntime: each pod is a small coordinator over its containers' drivers. Entries are
// built in pod_entry.ts, run and stopped in order by pod_run.ts, each container through the
// shared lifecycle (lifecycle.ts); the pod's status is built from their states
// (pod_status.ts). The kubelet API's logs/exec/attach/port-forward/stats are routed to the
// container they name. Deletion stops every run within the grace period and removes what
// each left.

import type * as k8s from "@kubernetes/client-node";
import { type EventRecorder, podRef } from "../kube/events.ts";
import { LABEL_POD_UID } from "../containers/names.ts";
import { type AdmissionContext, admitPod } from "./admission.ts";
import type { ContainerEntry, LifecycleHost } from "./lifecycle.ts";
import { buildPodStatus, type PodView } from "./pod_status.ts";
import { runPostStart } from "./hooks.ts";
import { VmSlots } from "./slots.ts";
import { podKey } from "./vm_spec.ts";
import { removeLeftoverVms, type VmDriverDeps } from "./vm_driver.ts";
import { type EntryDeps, newPodEntry, podDirOf, type PodEntry } from "./pod_entry.ts";
import { runPod, stopPod, VOLUME_REFRESH_MS } from "./pod_run.ts";
import { planVolumes } from "../volumes/plan.ts";
import { unmountLeftovers } from "../volumes/pod_volumes.ts";
import type { Reconciler } from "./reconcile.ts";
import {
  NotFoundError,
  type PodRuntime,
  type PodStats,
  type RuntimeStatus,
  type StatusListener,
} from "./types.ts";

export interface PodRuntimeOptions
  extends Omit<VmDriverDeps, "slots">, Omit<EntryDeps, "vm" | "log"> {
  events: EventRecorder;
  admission: () => AdmissionContext;
  /** Crash-loop and image-pull back-off; the kubelet's (10 s to 5 min) unless a test sets it. */
  backoff?: { initialMs: number; maxMs: number };
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

export function createPodRuntime(opts: PodRuntimeOptions): PodRuntime & Reconciler {
  const { backend, events, log } = opts;
  const slots = new VmSlots(backend.maxRunning);
  const entries = new Map<string, PodEntry>();
  const listeners: StatusListener[] = [];
  const entryDeps: EntryDeps = { ...opts, vm: { ...opts, slots }, log };

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
      sandboxReady: e.sandboxReady,
      failed: e.failed,
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
      podEvent: (type, reason, message) => events.record(podRef(e.pod), type, reason, message),
      async postStart(c, signal) {
        try {
          await runPostStart({ spec: c.spec(), driver: c.driver }, signal);
        } catch (err) {
          if (!signal.aborted) this.event(c, "Warning", "FailedPostStartHook", errText(err));
          throw err;
        }
      },
      started(c) {
        if (c === e.vm) log.info("pod started", { pod: podKey(e.pod), ip: e.vm.driver.podIP });
      },
      graceMs: () => (e.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000,
    };
  }

  /** (Re)arms the pod's activeDeadlineSeconds, counted from its start time. */
  function armDeadline(e: PodEntry): void {
    clearTimeout(e.deadline);
    const seconds = e.pod.spec?.activeDeadlineSeconds;
    if (seconds === undefined || e.failed) return;
    const since = new Date(e.pod.status?.startTime ?? e.acceptedAt).getTime();
    const ms = Math.max(0, since + seconds * 1000 - Date.now());
    e.deadline = setTimeout(() => void deadlineExceeded(e), ms);
  }

  /** The pod ran past activeDeadlineSeconds: stop it, and it ends Failed (DeadlineExceeded). */
  async function deadlineExceeded(e: PodEntry): Promise<void> {
    const message = "Pod was active on the node longer than the specified deadline";
    e.failed = { reason: "DeadlineExceeded", message };
    events.record(podRef(e.pod), "Warning", "DeadlineExceeded", message);
    log.info("pod deadline exceeded; stopping it", { pod: podKey(e.pod) });
    e.abort.abort(new Error("deadline exceeded"));
    await e.done;
    await stopPod(e, (e.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000, host(e))
      .catch((err) => log.error("stopping a pod past its deadline", { error: errText(err) }));
    for (const c of all(e)) {
      await c.driver.release().catch((err) =>
        log.error("releasing a pod past its deadline", { error: errText(err) })
      );
    }
    notify(e);
  }

  /** Containers whose image changed are stopped and started again with the new one. */
  function applyImageChanges(e: PodEntry, old: k8s.V1Pod): void {
    for (const c of all(e)) {
      const list = c.kind === "init" ? "initContainers" : "containers";
      const before = old.spec?.[list]?.find((x) => x.name === c.state.name)?.image;
      const now = c.spec().image ?? "";
      if (before === undefined || before === now) continue;
      c.state.image = now;
      if (!c.run) continue; // the next start takes the new image
      c.respec = true;
      host(e).event(
        c,
        "Normal",
        "Killing",
        `Container ${c.state.name} definition changed, will be restarted`,
      );
      c.driver.stop(host(e).graceMs()).catch((err) =>
        log.warn("stopping a container for its new image", { error: errText(err) })
      );
    }
  }

  function find(ns: string, name: string): PodEntry {
    const e = entries.get(`${ns}/${name}`);
    if (!e) throw new NotFoundError(`pod ${ns}/${name}`);
    return e;
  }

  const all = (e: PodEntry) => [...e.init, ...e.containers];

  function container(ns: string, name: string, container: string): ContainerEntry {
    const c = all(find(ns, name)).find((c) => c.state.name === container);
    if (!c) throw new NotFoundError(`container ${container} in pod ${ns}/${name}`);
    return c;
  }

  /** The container whose ports include `port` (a sidecar's), else the VM. */
  function portOwner(e: PodEntry, port: number): ContainerEntry {
    const declares = (c: ContainerEntry) =>
      c.spec().ports?.some((p) => p.containerPort === port) ?? false;
    return all(e).find((c) => c !== e.vm && declares(c) && c.state.stage === "running") ?? e.vm;
  }

  /** Docker containers this node made for pods that are not on it any more. */
  async function removeLeftoverContainers(owned: Set<string>): Promise<void> {
    const docker = opts.docker;
    if (!docker || docker.reachable?.() === false) return;
    for (const c of await docker.engine.managed(opts.nodeName)) {
      if (owned.has(c.labels[LABEL_POD_UID])) continue;
      log.warn("removing a container no pod owns", { container: c.name });
      await docker.engine.remove(c.id)
        .catch((err) => log.error("cannot remove leftover container", { error: errText(err) }));
    }
  }

  /** Removes the VM, containers and pod directory an agent made for `uid`. */
  async function removeLeftoversOf(uid: string): Promise<void> {
    if ((await backend.leftovers()).includes(uid)) {
      log.info("removing what an earlier agent left for a deleted pod", { uid });
      await backend.cleanup(uid, `${opts.stateDir}/${uid}`);
    }
    const docker = opts.docker;
    if (docker && docker.reachable?.() !== false) {
      for (const c of await docker.engine.managed(opts.nodeName)) {
        if (c.labels[LABEL_POD_UID] === uid) await docker.engine.remove(c.id);
      }
    }
    await unmountLeftovers(`${opts.podsDir}/${uid}`);
    await Deno.remove(`${opts.podsDir}/${uid}`, { recursive: true }).catch(() => {});
  }

  return {
    async reconcile(pods) {
      const owned = new Set(pods.map((p) => p.metadata?.uid).filter((u): u is string => !!u));
      await removeLeftoverVms(backend, owned, opts.stateDir, log);
      await removeLeftoverContainers(owned).catch((err) =>
        log.error("cannot list leftover containers", { error: errText(err) })
      );
      const dirs = await Array.fromAsync(Deno.readDir(opts.podsDir)).catch(() => []);
      for (const d of dirs) {
        if (d.isDirectory && !owned.has(d.name)) {
          await unmountLeftovers(`${opts.podsDir}/${d.name}`);
          await Deno.remove(`${opts.podsDir}/${d.name}`, { recursive: true }).catch(() => {});
        }
      }
    },
    status(): RuntimeStatus {
      return {
        ready: true,
        reason: "BackendReady",
        message: `${backend.name} backend ready, ${slots.used}/${slots.max} VM slots in use`,
        maxPods: backend.maxRunning,
        version: backend.version,
        networkProblem: backend.networkProblem?.(),
      };
    },
    admit(pod) {
      const problems = [...admitPod(pod, opts.admission()), ...planVolumes(pod).problems];
      const docker = [
        ...(pod.spec?.containers ?? []).slice(1),
        ...(pod.spec?.initContainers ?? []),
      ];
      if (docker.length && !opts.docker && !problems.some((p) => p.includes("need Docker"))) {
        problems.push(
          "spec.containers: sidecar and init containers need Docker, which this agent has " +
            "not set up",
        );
      }
      return problems;
    },
    createPod(pod) {
      const e = newPodEntry(pod, entryDeps);
      entries.set(podKey(pod), e);
      e.done = runPod(e, host(e), podDirOf(opts.podsDir, pod)).catch((err) =>
        log.error("pod run failed", { pod: podKey(pod), error: errText(err) })
      );
      armDeadline(e);
      notify(e);
      return Promise.resolve();
    },
    updatePod(pod) {
      const e = entries.get(podKey(pod));
      if (!e) return Promise.resolve();
      const old = e.pod;
      e.pod = pod;
      if (old.spec?.activeDeadlineSeconds !== pod.spec?.activeDeadlineSeconds) armDeadline(e);
      if (!e.failed && !e.abort.signal.aborted) applyImageChanges(e, old);
      return Promise.resolve();
    },
    async deletePod(pod, grace) {
      const e = entries.get(podKey(pod));
      const uid = e?.pod.metadata?.uid ?? pod.metadata?.uid;
      if (e) {
        clearTimeout(e.deadline);
        e.abort.abort(new Error("pod deleted"));
        await e.done;
        await stopPod(e, grace * 1000, host(e));
        // Removed here, and errors thrown: if a VM cannot be made to go, the pod controller
        // keeps the pod object and retries the deletion.
        for (const c of all(e)) await c.driver.remove();
        await e.volumes.tearDown();
      }
      // Whatever is still there for the UID goes too: a VM or container an earlier agent left
      // that this one had not adopted yet (the pod was deleted while the agent restarted).
      if (uid) await removeLeftoversOf(uid);
      if (!e) return undefined;
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
      [...entries.values()].filter((e) => all(e).some((c) => c.state.stage === "running"))
        .map((e) => e.pod),
    containerLogs: (ns, name, c, logOpts) => container(ns, name, c).driver.logs(logOpts),
    exec: (ns, name, c, command, io) => container(ns, name, c).driver.exec(command, io),
    attach: (ns, name, c, io) => container(ns, name, c).driver.attach(io),
    async portForward(ns, name, port, stream) {
      const owner = portOwner(find(ns, name), port);
      const ip = owner.state.stage === "running" ? await owner.driver.address() : undefined;
      if (!ip) throw new Error(`pod ${ns}/${name}: container ${owner.state.name} is not running`);
      await forwardTo(ip, port, stream);
    },
    async stats(): Promise<PodStats[]> {
      const out: PodStats[] = [];
      for (const e of entries.values()) {
        const containers = [];
        for (const c of all(e)) {
          if (c.state.stage !== "running" || !c.state.started) continue;
          const s = await c.driver.stats().catch(() => undefined);
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
          volumes: await e.volumes.stats(e.volumeRefreshMs ?? VOLUME_REFRESH_MS)
            .catch(() => undefined),
        });
      }
      return out;
    },
    async close() {
      // Stop all work in flight (starts, back-offs, hooks) but leave the runs going: the next
      // agent adopts them. Without this a start still running here could create a VM after
      // the next agent had already decided what to keep.
      for (const e of entries.values()) {
        clearTimeout(e.deadline);
        e.abort.abort(new Error("agent stopping"));
      }
      await Promise.all([...entries.values()].map((e) => e.done));
      for (const e of entries.values()) for (const c of all(e)) c.driver.detach();
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
