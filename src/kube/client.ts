// Builds the Kubernetes API clients. The only module that turns configuration into API
// access: everything else receives these clients (or narrower interfaces) as arguments.
// Nothing here loads client-node's generated API at run time (see kubeconfig.ts, rest.ts):
// only its types, and two dependency-free modules of it (config_types.js, ApiException).

import { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
import type { Config } from "../config/types.ts";
import { type CoordinationApi, coordinationApi } from "./coordination_api.ts";
import { type CoreApi, coreApi } from "./core_api.ts";
import { authHeaders } from "./credentials.ts";
import { denoHttpClient } from "./http.ts";
import { type KubeConfig, kubeConfigOf, readKubeConfig } from "./kubeconfig.ts";
import { type RestClient, restClient } from "./rest.ts";

export { mergePatch, strategicMerge } from "./rest.ts";

export interface KubeClients {
  kc: KubeConfig;
  /** Deno's HTTP client with the kubeconfig's certificates (see http.ts). */
  http: Deno.HttpClient;
  /** JSON requests to any API path, authenticated as the kubeconfig user. */
  rest: RestClient;
  core: CoreApi;
  coordination: CoordinationApi;
}

/** Loads the kubeconfig named by KUBECONFIG (first path of a list). */
export function loadKubeConfig(
  config: Pick<Config, "kubeconfigPath" | "apiserverCaPath">,
): KubeConfig {
  const path = config.kubeconfigPath.split(":").filter((p) => p)[0] ?? config.kubeconfigPath;
  let kc: KubeConfig;
  try {
    kc = readKubeConfig(path);
  } catch (err) {
    throw new Error(
      `KUBECONFIG: cannot load ${path}: ${errorText(err)}; point KUBECONFIG at a kubeconfig ` +
        `holding this node's credentials`,
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`KUBECONFIG: ${path} has no current cluster; set current-context`);
  if (config.apiserverCaPath && !cluster.caData && !cluster.caFile) {
    // APISERVER_CA_CERT_LOCATION verifies the API server when the kubeconfig names no CA.
    kc = kubeConfigOf({
      clusters: kc.clusters.map((c) =>
        c.name === cluster.name ? { ...c, caFile: config.apiserverCaPath } : c
      ),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
  }
  return kc;
}

export function makeClients(kc: KubeConfig): KubeClients {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("KUBECONFIG: no current cluster");
  const http = denoHttpClient(kc);
  const rest = restClient(cluster.server, http, authHeaders(kc));
  return { kc, http, rest, core: coreApi(rest), coordination: coordinationApi(rest) };
}

/** HTTP status of a failed API call, or undefined for transport errors. */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown })?.statusCode ??
    (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;
export const isForbidden = (err: unknown) => statusCode(err) === 403;

/** The API server's message for a failed call, without the response headers noise. */
export function errorText(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as unknown;
    let message: string | undefined;
    if (typeof body === "string") {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = body;
      }
    } else if (body && typeof body === "object") {
      message = (body as { message?: string }).message;
    }
    return `HTTP ${err.code}: ${message ?? "no message"}`;
  }
  return err instanceof Error ? err.message : String(err);
}
