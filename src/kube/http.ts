// The HTTP client every Kubernetes API request goes through: Deno's own fetch, with the
// kubeconfig's certificates in a Deno.HttpClient. client-node's default transport (npm undici
// over Deno's node:tls) crashed the whole process (SIGSEGV) when the API server closed a
// kept-alive connection, e.g. on an API server restart; Deno's native client does not.

import type { KubeConfig } from "./kubeconfig.ts";

function readPem(data?: string, file?: string): string | undefined {
  if (data) return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  if (file) return Deno.readTextFileSync(file);
  return undefined;
}

/** A Deno.HttpClient that presents the kubeconfig user's certificate and trusts its CA. */
export function denoHttpClient(kc: KubeConfig): Deno.HttpClient {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const ca = readPem(cluster?.caData, cluster?.caFile);
  const cert = readPem(user?.certData, user?.certFile);
  const key = readPem(user?.keyData, user?.keyFile);
  if (cluster?.skipTLSVerify) {
    throw new Error(
      "KUBECONFIG: insecure-skip-tls-verify is not supported; give the cluster's CA " +
        "(certificate-authority-data, or APISERVER_CA_CERT_LOCATION)",
    );
  }
  return Deno.createHttpClient({
    caCerts: ca ? [ca] : undefined,
    ...(cert && key ? { cert, key } : {}),
  });
}
