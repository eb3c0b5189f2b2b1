// Reads of the API objects a pod refers to (secrets, config maps, service accounts) with
// the node's own credentials: the Node authorizer allows exactly the ones referenced by
// pods bound to this node. The runtime sees only the ObjectReader interface.

import type * as k8s from "@kubernetes/client-node";
import { isNotFound, type KubeClients } from "./client.ts";

export interface ObjectReader {
  secret(namespace: string, name: string): Promise<k8s.V1Secret | undefined>;
  configMap(namespace: string, name: string): Promise<k8s.V1ConfigMap | undefined>;
  serviceAccount(namespace: string, name: string): Promise<k8s.V1ServiceAccount | undefined>;
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function objectReader(clients: KubeClients): ObjectReader {
  return {
    secret: (namespace, name) =>
      orUndefined(clients.core.readNamespacedSecret({ namespace, name })),
    configMap: (namespace, name) =>
      orUndefined(clients.core.readNamespacedConfigMap({ namespace, name })),
    serviceAccount: (namespace, name) =>
      orUndefined(clients.core.readNamespacedServiceAccount({ namespace, name })),
  };
}
