// The node's heartbeat: a Lease in kube-node-lease, renewed every 10 s with a 40 s
// duration, owned by the Node object so it disappears with it.

import type * as k8s from "@kubernetes/client-node";
// client-node's MicroTime (a Date written with microseconds), from its own dependency-free
// module: the package's index would load the whole generated API.
import { V1MicroTime } from "@kubernetes/client-node/dist/types.js";
import { errorText, isConflict, isNotFound } from "../kube/client.ts";
import type { CoordinationApi } from "../kube/coordination_api.ts";
import type { Logger } from "../telemetry/log.ts";

export const LEASE_NAMESPACE = "kube-node-lease";

export interface LeaseOptions {
  coordination: CoordinationApi;
  nodeName: string;
  /** UID of the current Node object, for the owner reference; undefined before registration. */
  nodeUid: () => string | undefined;
  log: Logger;
  intervalMs?: number;
  durationSeconds?: number;
}

export interface LeaseRenewer {
  /** Renews once now; resolves true on success. */
  renew(): Promise<boolean>;
  stop(): void;
}

export function leaseBody(nodeName: string, nodeUid: string | undefined, duration: number) {
  const lease: k8s.V1Lease = {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: nodeName,
      namespace: LEASE_NAMESPACE,
      ownerReferences: nodeUid
        ? [{ apiVersion: "v1", kind: "Node", name: nodeName, uid: nodeUid }]
        : undefined,
    },
    spec: {
      holderIdentity: nodeName,
      leaseDurationSeconds: duration,
      renewTime: new V1MicroTime(),
    },
  };
  return lease;
}

export function startLeaseRenewer(opts: LeaseOptions): LeaseRenewer {
  const interval = opts.intervalMs ?? 10_000;
  const duration = opts.durationSeconds ?? 40;
  const { coordination, nodeName, log } = opts;
  let current: k8s.V1Lease | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let failing = false;

  async function renewOnce(attempt = 0): Promise<void> {
    const uid = opts.nodeUid();
    if (!current) {
      try {
        current = await coordination.readNamespacedLease({
          name: nodeName,
          namespace: LEASE_NAMESPACE,
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        current = await coordination.createNamespacedLease({
          namespace: LEASE_NAMESPACE,
          body: leaseBody(nodeName, uid, duration),
        });
        return;
      }
    }
    const fresh = leaseBody(nodeName, uid, duration);
    const body: k8s.V1Lease = {
      ...current,
      metadata: { ...current.metadata, ownerReferences: fresh.metadata!.ownerReferences },
      spec: { ...current.spec, ...fresh.spec },
    };
    try {
      current = await coordination.replaceNamespacedLease({
        name: nodeName,
        namespace: LEASE_NAMESPACE,
        body,
      });
    } catch (err) {
      current = undefined; // re-read (conflict) or re-create (deleted) next time
      if ((isConflict(err) || isNotFound(err)) && attempt < 3) return renewOnce(attempt + 1);
      throw err;
    }
  }

  async function renew(): Promise<boolean> {
    try {
      await renewOnce();
      if (failing) log.info("node lease renewed again", { lease: nodeName });
      failing = false;
      return true;
    } catch (err) {
      if (!failing) log.warn("cannot renew node lease", { lease: nodeName, error: errorText(err) });
      failing = true;
      return false;
    }
  }

  const loop = async () => {
    if (stopped) return;
    await renew();
    if (!stopped) timer = setTimeout(loop, failing ? Math.min(interval, 2_000) : interval);
  };
  timer = setTimeout(loop, 0);

  return {
    renew,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
