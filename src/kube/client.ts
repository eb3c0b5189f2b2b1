// Builds the Kubernetes API clients. The only module that turns configuration into API
// access: everything else receives these clients (or narrower interfaces) as arguments.

import * as k8s from "@kubernetes/client-node";
import type { Config } from "../config/types.ts";
import { denoHttpClient, makeDenoApiClient } from "./http.ts";

export interface KubeClients {
  kc: k8s.KubeConfig;
  /** Deno's HTTP client with the kubeconfig's certificates (see http.ts). */
  http: Deno.HttpClient;
  core: k8s.CoreV1Api;
  coordination: k8s.CoordinationV1Api;
}

/** Loads the kubeconfig named by KUBECONFIG (first path of a list). */
export function loadKubeConfig(config: Pick<Config, "kubeconfigPath" | "apiserverCaPath">) {
  const path = config.kubeconfigPath.split(":").filter((p) => p)[0] ?? config.kubeconfigPath;
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromFile(path);
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
    const clusters = kc.clusters.map((c) =>
      c.name === cluster.name ? { ...c, caFile: config.apiserverCaPath } : c
    );
    kc.loadFromOptions({
      clusters,
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
  }
  return kc;
}

export function makeClients(kc: k8s.KubeConfig): KubeClients {
  const http = denoHttpClient(kc);
  return {
    kc,
    http,
    core: makeDenoApiClient(kc, http, k8s.CoreV1Api),
    coordination: makeDenoApiClient(kc, http, k8s.CoordinationV1Api),
  };
}

/** Request options that send a strategic merge patch. */
export const strategicMerge = k8s.setHeaderOptions(
  "Content-Type",
  k8s.PatchStrategy.StrategicMergePatch,
);
/** Request options that send a JSON merge patch. */
export const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/** HTTP status of a failed API call, or undefined for transport errors. */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown })?.statusCode ??
    (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;
export const isForbidden = (err: unknown) => statusCode(err) === 403;

/** The API server's message for a failed call, without the response headers noise. */
export function errorText(err: unknown): string {
  if (err instanceof k8s.ApiException) {
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
