// startKubeletServer: turns the agent's Config into the kubelet API server's settings (which
// certificate, which client CA, which cache lifetimes), says loudly when client verification
// is off, and starts the server. Called by src/agent.ts once the node is registered.

import type { Config } from "../config/types.ts";
import { generatedServingCertPaths } from "../config/paths.ts";
import { ensureServingCert } from "../config/serving_cert.ts";
import { clusterCaPem, makeAuthApi } from "../kube/auth.ts";
import type { KubeClients } from "../kube/client.ts";
import type { PodRuntime } from "../runtime/types.ts";
import type { Logger } from "../telemetry/log.ts";
import type { StreamingTimeouts } from "./context.ts";
import type { PodDirectory } from "./pod_lookup.ts";
import { createKubeletServer, type KubeletServer } from "./server.ts";

export type { KubeletServer } from "./server.ts";

/** The kubelet's defaults for the cache lifetimes and streaming timeouts. */
export const DEFAULTS = {
  tokenTtlSeconds: 120,
  allowedTtlSeconds: 300,
  deniedTtlSeconds: 30,
  idleTimeoutMs: 4 * 60 * 60 * 1000,
  creationTimeoutMs: 30_000,
} as const;

export interface KubeletServerDeps {
  clients: KubeClients;
  runtime: PodRuntime;
  pods: PodDirectory;
  log: Logger;
  /** Tests: shorter timeouts, faster certificate reloads, a listen address. */
  timeouts?: Partial<StreamingTimeouts>;
  tlsReloadIntervalMs?: number;
  hostname?: string;
}

export async function startKubeletServer(
  config: Config,
  deps: KubeletServerDeps,
): Promise<KubeletServer> {
  const { log } = deps;
  const cert = await servingCertPaths(config, log);
  const verifyClients = !config.noVerifyClients;
  const clientCaPath = config.clientVerifyCaPath ?? config.apiserverCaPath;
  let clientCaPem: string | undefined;
  if (!verifyClients) {
    log.warn(
      "kubelet API: --no-verify-clients is set: client certificates are NOT requested, so the " +
        "API server's kubelet-client certificate is not accepted; only bearer tokens " +
        (config.authenticationTokenWebhook
          ? "(checked with TokenReview) authenticate callers"
          : "could authenticate callers, and --authentication-token-webhook is off: every " +
            "request will be refused with 401"),
    );
  } else if (!clientCaPath) {
    clientCaPem = await clusterCaPem(deps.clients.kc);
    if (clientCaPem) {
      log.info("kubelet API: verifying client certificates with the kubeconfig's cluster CA");
    } else {
      log.warn(
        "kubelet API: no CA to verify client certificates (set --client-verify-ca or " +
          "APISERVER_CA_CERT_LOCATION): only bearer tokens can authenticate callers",
      );
    }
  }
  const seconds = (v: number, fallback: number) => (v > 0 ? v : fallback) * 1000;
  return await createKubeletServer({
    nodeName: config.nodeName,
    port: config.kubeletPort,
    hostname: deps.hostname,
    certPath: cert.certPath,
    keyPath: cert.keyPath,
    clientCaPath,
    clientCaPem,
    verifyClients,
    auth: makeAuthApi(deps.clients),
    tokenWebhook: config.authenticationTokenWebhook,
    tokenTtlMs: seconds(config.authenticationTokenWebhookCacheTtlSeconds, DEFAULTS.tokenTtlSeconds),
    allowedTtlMs: seconds(
      config.authorizationWebhookCacheAuthorizedTtlSeconds,
      DEFAULTS.allowedTtlSeconds,
    ),
    deniedTtlMs: seconds(
      config.authorizationWebhookCacheUnauthorizedTtlSeconds,
      DEFAULTS.deniedTtlSeconds,
    ),
    runtime: deps.runtime,
    pods: deps.pods,
    log,
    timeouts: {
      idleTimeoutMs: deps.timeouts?.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      creationTimeoutMs: deps.timeouts?.creationTimeoutMs ?? DEFAULTS.creationTimeoutMs,
    },
    connectionTimeouts: {
      handshakeMs: config.connectionTimeouts.tlsHandshakeSeconds * 1000,
      requestHeaderMs: config.connectionTimeouts.requestHeaderSeconds * 1000,
      idleMs: config.connectionTimeouts.idleSeconds * 1000,
    },
    tlsReloadIntervalMs: deps.tlsReloadIntervalMs,
  });
}

/** The configured pair, else the generated one (made now if `main.ts` has not made it). */
async function servingCertPaths(
  config: Config,
  log: Logger,
): Promise<{ certPath: string; keyPath: string }> {
  if (config.servingCertPath && config.servingKeyPath) {
    return { certPath: config.servingCertPath, keyPath: config.servingKeyPath };
  }
  const generated = generatedServingCertPaths(config.cacheDir);
  try {
    await Deno.stat(generated.certPath);
    await Deno.stat(generated.keyPath);
    return generated;
  } catch {
    return await ensureServingCert(config, log);
  }
}
