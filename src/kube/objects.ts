// Reads of the API objects a pod refers to (secrets, config maps, service accounts, tokens)
// with the node's own credentials: the Node authorizer allows exactly the ones referenced by
// pods bound to this node. The runtime sees only the ObjectReader interface.

import type * as k8s from "@kubernetes/client-node";
import { isNotFound, type KubeClients } from "./client.ts";

/** A TokenRequest for a pod's service account, bound to the pod. */
export interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds: number;
  pod: { name: string; uid: string };
}

export interface ObjectReader {
  secret(namespace: string, name: string): Promise<k8s.V1Secret | undefined>;
  configMap(namespace: string, name: string): Promise<k8s.V1ConfigMap | undefined>;
  serviceAccount(namespace: string, name: string): Promise<k8s.V1ServiceAccount | undefined>;
  /** A token for `serviceAccount` (TokenRequest API); the Node authorizer allows its pods'. */
  token(
    namespace: string,
    serviceAccount: string,
    spec: TokenRequestSpec,
  ): Promise<{ token: string; expiresAt?: Date }>;
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
    async token(namespace, serviceAccount, spec) {
      const got = await clients.core.createNamespacedServiceAccountToken({
        namespace,
        name: serviceAccount,
        body: {
          spec: {
            audiences: spec.audiences ?? [],
            expirationSeconds: spec.expirationSeconds,
            boundObjectRef: {
              apiVersion: "v1",
              kind: "Pod",
              name: spec.pod.name,
              uid: spec.pod.uid,
            },
          },
        },
      });
      const exp = got.status?.expirationTimestamp;
      return { token: got.status?.token ?? "", expiresAt: exp ? new Date(exp) : undefined };
    },
  };
}

/** What the runtime gets of the cluster: the object reader and the API server's URL. */
export function clusterAccess(clients: KubeClients): { reader: ObjectReader; apiServer?: string } {
  return { reader: objectReader(clients), apiServer: clients.kc.getCurrentCluster()?.server };
}
