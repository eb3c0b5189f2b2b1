// The core/v1 operations this project uses (nodes, pods, secrets, service accounts, events),
// with the names, request objects and result types of client-node's CoreV1Api, over our own
// RestClient (rest.ts). Hand-written instead of client-node's generated CoreV1Api because
// that class cannot be loaded without its ObjectSerializer and every model of the API
// (most of an idle agent's memory); each operation here is one path and one verb.

import type * as k8s from "@kubernetes/client-node";
import type { PatchOptions, RestClient } from "./rest.ts";
import { resourceCalls } from "./resource.ts";

export interface CoreApi {
  readNode(p: k8s.CoreV1ApiReadNodeRequest): Promise<k8s.V1Node>;
  createNode(p: k8s.CoreV1ApiCreateNodeRequest): Promise<k8s.V1Node>;
  replaceNode(p: k8s.CoreV1ApiReplaceNodeRequest): Promise<k8s.V1Node>;
  /** A JSON Patch unless `patch` says otherwise (as in client-node). */
  patchNode(p: k8s.CoreV1ApiPatchNodeRequest, patch?: PatchOptions): Promise<k8s.V1Node>;
  patchNodeStatus(
    p: k8s.CoreV1ApiPatchNodeStatusRequest,
    patch?: PatchOptions,
  ): Promise<k8s.V1Node>;
  deleteNode(p: k8s.CoreV1ApiDeleteNodeRequest): Promise<k8s.V1Status>;

  listPodForAllNamespaces(p?: k8s.CoreV1ApiListPodForAllNamespacesRequest): Promise<k8s.V1PodList>;
  readNamespacedPod(p: k8s.CoreV1ApiReadNamespacedPodRequest): Promise<k8s.V1Pod>;
  createNamespacedPod(p: k8s.CoreV1ApiCreateNamespacedPodRequest): Promise<k8s.V1Pod>;
  patchNamespacedPod(
    p: k8s.CoreV1ApiPatchNamespacedPodRequest,
    patch?: PatchOptions,
  ): Promise<k8s.V1Pod>;
  patchNamespacedPodStatus(
    p: k8s.CoreV1ApiPatchNamespacedPodStatusRequest,
    patch?: PatchOptions,
  ): Promise<k8s.V1Pod>;
  deleteNamespacedPod(p: k8s.CoreV1ApiDeleteNamespacedPodRequest): Promise<k8s.V1Pod>;

  readNamespacedSecret(p: k8s.CoreV1ApiReadNamespacedSecretRequest): Promise<k8s.V1Secret>;
  createNamespacedSecret(p: k8s.CoreV1ApiCreateNamespacedSecretRequest): Promise<k8s.V1Secret>;
  readNamespacedConfigMap(
    p: k8s.CoreV1ApiReadNamespacedConfigMapRequest,
  ): Promise<k8s.V1ConfigMap>;
  createNamespacedConfigMap(
    p: k8s.CoreV1ApiCreateNamespacedConfigMapRequest,
  ): Promise<k8s.V1ConfigMap>;
  readNamespacedServiceAccount(
    p: k8s.CoreV1ApiReadNamespacedServiceAccountRequest,
  ): Promise<k8s.V1ServiceAccount>;
  createNamespacedServiceAccount(
    p: k8s.CoreV1ApiCreateNamespacedServiceAccountRequest,
  ): Promise<k8s.V1ServiceAccount>;
  createNamespacedServiceAccountToken(
    p: k8s.CoreV1ApiCreateNamespacedServiceAccountTokenRequest,
  ): Promise<k8s.AuthenticationV1TokenRequest>;

  createNamespacedEvent(p: k8s.CoreV1ApiCreateNamespacedEventRequest): Promise<k8s.CoreV1Event>;
  patchNamespacedEvent(
    p: k8s.CoreV1ApiPatchNamespacedEventRequest,
    patch?: PatchOptions,
  ): Promise<k8s.CoreV1Event>;
  listNamespacedEvent(p: k8s.CoreV1ApiListNamespacedEventRequest): Promise<k8s.CoreV1EventList>;
}

export function coreApi(rest: RestClient): CoreApi {
  const { call, patch } = resourceCalls(rest, "/api/v1");
  return {
    readNode: (p) => call("GET", "nodes", p),
    createNode: (p) => call("POST", "nodes", p),
    replaceNode: (p) => call("PUT", "nodes", p),
    patchNode: (p, opts) => patch("nodes", p, undefined, opts),
    patchNodeStatus: (p, opts) => patch("nodes", p, "status", opts),
    deleteNode: (p) => call("DELETE", "nodes", p),

    listPodForAllNamespaces: (p = {}) => call("GET", "pods", p),
    readNamespacedPod: (p) => call("GET", "pods", p),
    createNamespacedPod: (p) => call("POST", "pods", p),
    patchNamespacedPod: (p, opts) => patch("pods", p, undefined, opts),
    patchNamespacedPodStatus: (p, opts) => patch("pods", p, "status", opts),
    deleteNamespacedPod: (p) => call("DELETE", "pods", p),

    readNamespacedSecret: (p) => call("GET", "secrets", p),
    createNamespacedSecret: (p) => call("POST", "secrets", p),
    readNamespacedConfigMap: (p) => call("GET", "configmaps", p),
    createNamespacedConfigMap: (p) => call("POST", "configmaps", p),
    readNamespacedServiceAccount: (p) => call("GET", "serviceaccounts", p),
    createNamespacedServiceAccount: (p) => call("POST", "serviceaccounts", p),
    createNamespacedServiceAccountToken: (p) => call("POST", "serviceaccounts", p, "token"),

    createNamespacedEvent: (p) => call("POST", "events", p),
    patchNamespacedEvent: (p, opts) => patch("events", p, undefined, opts),
    listNamespacedEvent: (p) => call("GET", "events", p),
  };
}
