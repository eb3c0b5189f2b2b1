// Leases (coordination.k8s.io/v1), the node heartbeat's three operations, with the names and
// request objects of client-node's CoordinationV1Api (see core_api.ts for why hand-written).

import type * as k8s from "@kubernetes/client-node";
import type { RestClient } from "./rest.ts";
import { resourceCalls } from "./resource.ts";

export interface CoordinationApi {
  readNamespacedLease(p: k8s.CoordinationV1ApiReadNamespacedLeaseRequest): Promise<k8s.V1Lease>;
  createNamespacedLease(
    p: k8s.CoordinationV1ApiCreateNamespacedLeaseRequest,
  ): Promise<k8s.V1Lease>;
  replaceNamespacedLease(
    p: k8s.CoordinationV1ApiReplaceNamespacedLeaseRequest,
  ): Promise<k8s.V1Lease>;
}

export function coordinationApi(rest: RestClient): CoordinationApi {
  const { call } = resourceCalls(rest, "/apis/coordination.k8s.io/v1");
  return {
    readNamespacedLease: (p) => call("GET", "leases", p),
    createNamespacedLease: (p) => call("POST", "leases", p),
    replaceNamespacedLease: (p) => call("PUT", "leases", p),
  };
}
