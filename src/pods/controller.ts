// The pod controller: watches the pods bound to this node, and for each pod key, one at a
// time, brings the runtime in line with the API (create, update, delete) and the API in
// line with the runtime (status). Talks to VMs and containers only through PodRuntime.

import type * as k8s from "@kubernetes/client-node";
import { SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { errorText, isNotFound, type KubeClients, strategicMerge } from "../kube/client.ts";
import { type EventRecorder, podRef } from "../kube/events.ts";
import { type Informer, makeInformer } from "../kube/informer.ts";
import type { Logger } from "../telemetry/log.ts";
import type { PodRuntime } from "../runtime/types.ts";
import { createWorkQueue, type WorkQueue } from "./queue.ts";
import { isTerminal, rejectedStatus, statusPatch } from "./status.ts";
import { isReconciler } from "../runtime/reconcile.ts";

export interface PodControllerOptions {
  clients: KubeClients;
  nodeName: string;
  runtime: PodRuntime;
  events: EventRecorder;
  log: Logger;
  workers: number;
  resyncPeriodMs: number;
  /** The node's InternalIP, reported as hostIP when the runtime does not set one. */
  hostIP?: string;
  /** Traces each sync as a `pod.sync` span when set. */
  tracer?: Tracer;
}

export interface PodController {
  /** Starts watching; resolves once the existing pods have been listed and queued. */
  start(): Promise<void>;
  /** Stops watching and waits for in-flight work. Leaves pods running in the runtime. */
  stop(): Promise<void>;
  readonly informer: Informer<k8s.V1Pod>;
}

const keyOf = (pod: k8s.V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

export function createPodController(opts: PodControllerOptions): PodController {
  const { clients, runtime, events, log } = opts;
  const queue: WorkQueue = createWorkQueue();
  /** Last object seen for pods that left the API, so their runtime state can be removed. */
  const gone = new Map<string, k8s.V1Pod>();
  /** Spec last handed to the runtime, per key, to detect updates. */
  const specs = new Map<string, string>();
  /** Pods whose deletion is in progress (deletion can outlast one sync). */
  const deleting = new Set<string>();
  let resync: ReturnType<typeof setInterval> | undefined;

  const informer = makeInformer<k8s.V1Pod>(clients.rest, {
    path: "/api/v1/pods",
    fieldSelector: `spec.nodeName=${opts.nodeName}`,
    list: () =>
      clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${opts.nodeName}` }),
    log,
    handlers: {
      add: (pod) => {
        gone.delete(keyOf(pod));
        queue.add(keyOf(pod));
      },
      update: (pod) => queue.add(keyOf(pod)),
      delete: (pod) => {
        gone.set(keyOf(pod), pod);
        queue.add(keyOf(pod));
      },
    },
  });

  runtime.onStatusChange((namespace, name) => queue.add(`${namespace}/${name}`));

  async function sync(key: string): Promise<void> {
    const [namespace, name] = key.split("/");
    const pod = informer.get(name, namespace);
    if (!pod) return await forget(key, namespace, name);
    const plog = log.with({ pod: key });

    // A pod of the same name but another UID is a new pod: drop the old one first.
    const uid = pod.metadata?.uid;
    if (runtime.hasPod(namespace, name) && !runtime.hasPod(namespace, name, uid)) {
      plog.info("pod was recreated with a new UID; removing the old one");
      await runtime.deletePod({ ...pod, metadata: { ...pod.metadata, uid: undefined } }, 0);
      specs.delete(key);
    }

    if (pod.metadata?.deletionTimestamp) return await terminate(key, pod, plog);

    if (!runtime.hasPod(namespace, name, uid)) {
      if (isTerminal(pod)) return; // terminal pods are never started again
      const problems = runtime.admit(pod);
      if (problems.length) {
        plog.warn("pod rejected", { problems });
        events.record(podRef(pod), "Warning", "AdmissionFailed", problems.join("; "));
        await writeStatus(pod, rejectedStatus(pod, problems), plog);
        return;
      }
      await runtime.createPod(pod);
      specs.set(key, JSON.stringify(pod.spec));
    } else {
      const spec = JSON.stringify(pod.spec);
      if (specs.get(key) !== spec) {
        await runtime.updatePod(pod);
        specs.set(key, spec);
      }
    }
    const status = runtime.podStatus(pod);
    if (status) await writeStatus(pod, status, plog);
  }

  async function terminate(key: string, pod: k8s.V1Pod, plog: Logger): Promise<void> {
    if (deleting.has(key)) return;
    deleting.add(key);
    try {
      const [namespace, name] = key.split("/");
      const grace = pod.metadata?.deletionGracePeriodSeconds ??
        pod.spec?.terminationGracePeriodSeconds ?? 30;
      if (runtime.hasPod(namespace, name, pod.metadata?.uid)) {
        for (const c of pod.spec?.containers ?? []) {
          events.record(
            podRef(pod, `spec.containers{${c.name}}`),
            "Normal",
            "Killing",
            `Stopping container ${c.name}`,
          );
        }
        plog.info("stopping pod", { gracePeriodSeconds: grace });
      }
      // Also for a pod the runtime does not track (yet): after an agent restart its VM may
      // still run, and the runtime removes what it finds for the pod's UID.
      const final = await runtime.deletePod(pod, grace);
      if (final) await writeStatus(pod, final, plog).catch(() => {});
      specs.delete(key);
      try {
        await clients.core.deleteNamespacedPod({
          name,
          namespace,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid } },
        });
        plog.info("pod deleted");
      } catch (err) {
        if (!isNotFound(err) && (err as { code?: number }).code !== 409) throw err;
      }
    } finally {
      deleting.delete(key);
    }
  }

  /** The pod left the API (deleted with grace 0, or removed while the agent was away). */
  async function forget(key: string, namespace: string, name: string): Promise<void> {
    const last = gone.get(key);
    specs.delete(key);
    if (runtime.hasPod(namespace, name)) {
      log.info("pod is gone from the API; stopping it", { pod: key });
      await runtime.deletePod(last ?? { metadata: { namespace, name } }, 0);
    } else if (last?.metadata?.uid) {
      await runtime.deletePod(last, 0); // leftovers of an earlier agent, if any
    }
    gone.delete(key);
  }

  async function writeStatus(pod: k8s.V1Pod, desired: k8s.V1PodStatus, plog: Logger) {
    if (!desired.hostIP && opts.hostIP) {
      desired = { ...desired, hostIP: opts.hostIP, hostIPs: [{ ip: opts.hostIP }] };
    }
    const body = statusPatch(pod, desired);
    if (!body) return;
    try {
      await clients.core.patchNamespacedPodStatus(
        { name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body },
        strategicMerge,
      );
      plog.debug("pod status written", { phase: desired.phase });
    } catch (err) {
      if (isNotFound(err)) return; // deleted meanwhile; the informer will tell
      throw new Error(`write status: ${errorText(err)}`);
    }
  }

  return {
    informer,
    async start() {
      await informer.start();
      if (isReconciler(runtime)) {
        await runtime.reconcile(informer.list().filter((p) => !isTerminal(p)))
          .catch((err) => log.error("runtime reconcile failed", { error: errorText(err) }));
      }
      const work = opts.tracer ? tracedSync(opts.tracer, opts.nodeName, sync) : sync;
      queue.run(opts.workers, work, (key, err, delay) => {
        log.warn("pod sync failed; retrying", { pod: key, delayMs: delay, error: errorText(err) });
      });
      resync = setInterval(() => {
        for (const pod of informer.list()) queue.add(keyOf(pod));
      }, opts.resyncPeriodMs);
    },
    async stop() {
      if (resync !== undefined) clearInterval(resync);
      await informer.stop();
      await queue.shutdown();
    },
  };
}

/** `sync` inside a `pod.sync` span that records the failure, if any. */
function tracedSync(
  tracer: Tracer,
  nodeName: string,
  sync: (key: string) => Promise<void>,
): (key: string) => Promise<void> {
  return async (key) => {
    const [namespace, name] = key.split("/");
    const span = tracer.startSpan("pod.sync", {
      attributes: {
        "k8s.pod.namespace": namespace,
        "k8s.pod.name": name,
        "k8s.node.name": nodeName,
      },
    });
    try {
      await sync(key);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(err) });
      throw err;
    } finally {
      span.end();
    }
  };
}
