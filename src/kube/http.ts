// HTTP for the Kubernetes API clients through Deno's own fetch, with the kubeconfig's
// certificates in a Deno.HttpClient. client-node's default transport (npm undici over
// Deno's node:tls) crashed the whole process (SIGSEGV) when the API server closed a
// kept-alive connection, e.g. on an API server restart; Deno's native client does not.

import * as k8s from "@kubernetes/client-node";

/**
 * The promise-backed Observable the generated client expects from an HttpLibrary (the same
 * shape as its internal rxjs stub, which the package does not export).
 */
class PromiseObservable<T> {
  constructor(private readonly promise: Promise<T>) {}
  toPromise(): Promise<T> {
    return this.promise;
  }
  pipe<U>(callback: (value: T) => U | Promise<U>): PromiseObservable<U> {
    return new PromiseObservable(this.promise.then(callback));
  }
}

function readPem(data?: string, file?: string): string | undefined {
  if (data) return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  if (file) return Deno.readTextFileSync(file);
  return undefined;
}

/** A Deno.HttpClient that presents the kubeconfig user's certificate and trusts its CA. */
export function denoHttpClient(kc: k8s.KubeConfig): Deno.HttpClient {
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

/** client-node's HttpLibrary over Deno's fetch. */
export class DenoHttpLibrary {
  constructor(private readonly client: Deno.HttpClient) {}

  send(request: k8s.RequestContext) {
    const body = request.getBody() as BodyInit | undefined;
    const result = fetch(request.getUrl(), {
      method: request.getHttpMethod().toString(),
      body,
      headers: request.getHeaders(),
      signal: request.getSignal() as AbortSignal | undefined,
      client: this.client,
    }).then((resp) => {
      const headers: Record<string, string> = {};
      resp.headers.forEach((value, name) => headers[name] = value);
      return new k8s.ResponseContext(resp.status, headers, {
        text: () => resp.text(),
        binary: async () => new Uint8Array(await resp.arrayBuffer()) as unknown as Buffer,
        stream: () => resp.body,
      } as unknown as k8s.ResponseBody);
    });
    return new PromiseObservable(result);
  }
}

/** An API client of `type` whose requests go through `client`. */
export function makeDenoApiClient<T>(
  kc: k8s.KubeConfig,
  client: Deno.HttpClient,
  type: new (config: k8s.Configuration) => T,
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("KUBECONFIG: no current cluster");
  const config = k8s.createConfiguration({
    baseServer: new k8s.ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    httpApi: new DenoHttpLibrary(client) as unknown as k8s.HttpLibrary,
  });
  return new type(config);
}
