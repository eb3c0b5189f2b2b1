// Records Kubernetes events the way a kubelet does (core/v1, source component "kubelet"),
// folding repeats of the same reason and message on the same object into one event with a
// count, so a crash-looping pod does not flood the API server.

import type * as k8s from "@kubernetes/client-node";
import { errorText, mergePatch } from "./client.ts";
import type { CoreApi } from "./core_api.ts";
import type { Logger } from "../telemetry/log.ts";

export type EventType = "Normal" | "Warning";

export interface ObjectRef {
  kind: "Pod" | "Node";
  apiVersion?: string;
  namespace?: string;
  name: string;
  uid?: string;
  fieldPath?: string;
}

export interface EventRecorder {
  record(ref: ObjectRef, type: EventType, reason: string, message: string): void;
  /** Resolves once every event recorded so far has been written (or failed). */
  flush(): Promise<void>;
}

export function podRef(pod: k8s.V1Pod, fieldPath?: string): ObjectRef {
  return {
    kind: "Pod",
    apiVersion: "v1",
    namespace: pod.metadata?.namespace,
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid,
    fieldPath,
  };
}

export function nodeRef(nodeName: string): ObjectRef {
  // Kubelets use the node name as the node reference's UID.
  return { kind: "Node", apiVersion: "v1", name: nodeName, uid: nodeName };
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: Date;
}

const FOLD_WINDOW_MS = 10 * 60_000;

export function createEventRecorder(
  core: Pick<CoreApi, "createNamespacedEvent" | "patchNamespacedEvent">,
  nodeName: string,
  log: Logger,
): EventRecorder {
  const seen = new Map<string, Seen & { at: number }>();
  let chain: Promise<void> = Promise.resolve();

  async function write(ref: ObjectRef, type: EventType, reason: string, message: string) {
    const namespace = ref.namespace ?? "default";
    const key = [ref.kind, namespace, ref.name, ref.uid, ref.fieldPath, type, reason, message]
      .join("\x00");
    const now = new Date();
    const prev = seen.get(key);
    if (prev && now.getTime() - prev.at < FOLD_WINDOW_MS) {
      prev.count++;
      prev.at = now.getTime();
      try {
        await core.patchNamespacedEvent(
          {
            name: prev.name,
            namespace,
            body: { count: prev.count, lastTimestamp: now.toISOString() },
          },
          mergePatch,
        );
        return;
      } catch {
        seen.delete(key); // gone or expired: write a fresh one below
      }
    }
    const name = `${ref.name}.${now.getTime().toString(16)}${
      Math.floor(Math.random() * 0xfff).toString(16)
    }`;
    const body: k8s.CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: {
        kind: ref.kind,
        apiVersion: ref.apiVersion,
        namespace: ref.namespace,
        name: ref.name,
        uid: ref.uid,
        fieldPath: ref.fieldPath,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: "kubelet", host: nodeName },
      reportingComponent: "kubelet",
      reportingInstance: nodeName,
    };
    try {
      await core.createNamespacedEvent({ namespace, body });
      seen.set(key, { name, namespace, count: 1, firstTimestamp: now, at: now.getTime() });
      if (seen.size > 5000) seen.delete(seen.keys().next().value!);
    } catch (err) {
      log.warn("cannot record event", {
        object: `${namespace}/${ref.name}`,
        reason,
        error: errorText(err),
      });
    }
  }

  return {
    record(ref, type, reason, message) {
      log.debug("event", { object: `${ref.namespace ?? ""}/${ref.name}`, type, reason, message });
      chain = chain.then(() => write(ref, type, reason, message));
    },
    flush: () => chain,
  };
}
