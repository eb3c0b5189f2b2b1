// The runtime used when no VM backend can run on this host (or none is built for it yet).
// It does not pretend: every pod waits Pending with the reason in its container status and
// a Warning event, and the node's Ready message says why no VM can start.

import type * as k8s from "@kubernetes/client-node";
import { type EventRecorder, podRef } from "../kube/events.ts";
import { type AdmissionContext, admitPod } from "./admission.ts";
import {
  NotFoundError,
  type PodRuntime,
  type RuntimeStatus,
  type StatusListener,
} from "./types.ts";

export const UNAVAILABLE_REASON = "VMBackendUnavailable";

export function createUnavailableRuntime(opts: {
  message: string;
  maxPods: number;
  admission: () => AdmissionContext;
  events: EventRecorder;
}): PodRuntime {
  const pods = new Map<string, k8s.V1Pod>();
  const listeners: StatusListener[] = [];
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const missing = (ns: string, pod: string) =>
    Promise.reject(new NotFoundError(`pod ${ns}/${pod}`));
  const status: RuntimeStatus = {
    ready: false,
    reason: UNAVAILABLE_REASON,
    message: opts.message,
    maxPods: opts.maxPods,
    version: "none://",
  };

  return {
    status: () => status,
    admit: (pod) => admitPod(pod, opts.admission()),
    createPod(pod) {
      const { namespace = "", name = "" } = pod.metadata ?? {};
      pods.set(key(namespace, name), pod);
      opts.events.record(podRef(pod), "Warning", UNAVAILABLE_REASON, opts.message);
      for (const l of listeners) l(namespace, name);
      return Promise.resolve();
    },
    updatePod(pod) {
      pods.set(key(pod.metadata!.namespace!, pod.metadata!.name!), pod);
      return Promise.resolve();
    },
    deletePod(pod) {
      pods.delete(key(pod.metadata?.namespace ?? "", pod.metadata?.name ?? ""));
      return Promise.resolve(undefined);
    },
    hasPod(ns, name, uid) {
      const p = pods.get(key(ns, name));
      return !!p && (uid === undefined || p.metadata?.uid === uid);
    },
    podStatus(pod) {
      if (!pods.has(key(pod.metadata?.namespace ?? "", pod.metadata?.name ?? ""))) return undefined;
      const message = `waiting: ${opts.message}`;
      return {
        phase: "Pending",
        conditions: [
          { type: "Ready", status: "False", reason: UNAVAILABLE_REASON, message },
          { type: "ContainersReady", status: "False", reason: UNAVAILABLE_REASON, message },
        ],
        containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? "",
          imageID: "",
          ready: false,
          restartCount: 0,
          started: false,
          state: { waiting: { reason: UNAVAILABLE_REASON, message } },
        })),
      };
    },
    onStatusChange: (fn) => void listeners.push(fn),
    runningPods: () => [],
    containerLogs: (ns, pod) => missing(ns, pod),
    exec: (ns, pod) => missing(ns, pod),
    attach: (ns, pod) => missing(ns, pod),
    portForward: (ns, pod) => missing(ns, pod),
    stats: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  };
}
