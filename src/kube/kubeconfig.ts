// The kubeconfig: which API server to talk to, which CA to trust and which credentials to
// present. Entries are parsed by client-node's own config_types.js, so clusters, users and
// contexts mean exactly what they mean to client-node (relative paths, token files, trailing
// slashes). Its KubeConfig class is not used: importing it evaluates the whole generated API
// (every model and API class, about 70 MB of an idle agent's memory), and the agent needs
// none of it; only the rare exec and auth-provider users load it, on first use (credentials.ts).

import { load as parseYaml } from "js-yaml";
import {
  type Cluster,
  type Context,
  newClusters,
  newContexts,
  newUsers,
  type User,
} from "@kubernetes/client-node/dist/config_types.js";

export type { Cluster, Context, User };

/** A loaded kubeconfig; the current context decides the cluster and the user. */
export interface KubeConfig {
  readonly clusters: Cluster[];
  readonly users: User[];
  readonly contexts: Context[];
  readonly currentContext: string | undefined;
  getCurrentCluster(): Cluster | null;
  getCurrentUser(): User | null;
}

interface KubeConfigData {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext: string | undefined;
}

/** A KubeConfig over parsed entries, looked up by name as client-node does. */
export function kubeConfigOf(data: KubeConfigData): KubeConfig {
  const context = () => data.contexts.find((c) => c.name === data.currentContext);
  return {
    ...data,
    getCurrentCluster() {
      const ctx = context();
      return ctx ? data.clusters.find((c) => c.name === ctx.cluster) ?? null : null;
    },
    getCurrentUser() {
      const ctx = context();
      return ctx ? data.users.find((u) => u.name === ctx.user) ?? null : null;
    },
  };
}

/** Parses kubeconfig text (YAML or JSON); throws on malformed entries, naming them. */
export function parseKubeConfig(text: string): KubeConfig {
  const obj = (parseYaml(text) ?? {}) as Record<string, unknown>;
  return kubeConfigOf({
    clusters: newClusters(obj.clusters),
    users: newUsers(obj.users),
    contexts: newContexts(obj.contexts),
    currentContext: obj["current-context"] as string | undefined,
  });
}

/**
 * Reads a kubeconfig file. Certificate and key paths in it are taken relative to the file's
 * directory (client-node's loadFromFile does the same).
 */
export function readKubeConfig(path: string): KubeConfig {
  const kc = parseKubeConfig(Deno.readTextFileSync(path));
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : "";
  const absolute = (file: string) => !dir || file.startsWith("/") ? file : `${dir}/${file}`;
  return kubeConfigOf({
    clusters: kc.clusters.map((c) => c.caFile ? { ...c, caFile: absolute(c.caFile) } : c),
    users: kc.users.map((u) => ({
      ...u,
      ...(u.certFile ? { certFile: absolute(u.certFile) } : {}),
      ...(u.keyFile ? { keyFile: absolute(u.keyFile) } : {}),
    })),
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
}
