// Baseline process for the node benchmarks: Deno with @kubernetes/client-node loaded the way
// a client-node program loads it (KubeConfig, the generated CoreV1Api and its models), making
// one authenticated API call, then exiting (or, with --idle, staying idle until killed).
// The agent itself no longer loads client-node's generated API (src/kube/rest.ts), so this
// keeps the baseline's meaning: what the same runtime costs with the usual Kubernetes client.
// Requests go through Deno's fetch, as the agent's did (client-node's own undici transport
// can crash Deno; see src/kube/http.ts): the small HttpLibrary adapter below does that.

import "reflect-metadata";
import * as k8s from "@kubernetes/client-node";

/** The promise-backed Observable the generated client expects from an HttpLibrary. */
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

/** client-node's HttpLibrary over Deno's fetch. */
class DenoHttpLibrary {
  constructor(private readonly client: Deno.HttpClient) {}

  send(request: k8s.RequestContext) {
    const result = fetch(request.getUrl(), {
      method: request.getHttpMethod().toString(),
      body: request.getBody() as BodyInit | undefined,
      headers: request.getHeaders(),
      client: this.client,
    }).then((resp) => {
      const headers: Record<string, string> = {};
      resp.headers.forEach((value, name) => headers[name] = value);
      return new k8s.ResponseContext(resp.status, headers, {
        text: () => resp.text(),
        binary: async () => new Uint8Array(await resp.arrayBuffer()) as unknown as Buffer,
      } as unknown as k8s.ResponseBody);
    });
    return new PromiseObservable(result);
  }
}

const kc = new k8s.KubeConfig();
kc.loadFromFile(Deno.env.get("KUBECONFIG") ?? "");
const cluster = kc.getCurrentCluster()!;
const user = kc.getCurrentUser();
const ca = readPem(cluster.caData, cluster.caFile) ??
  readPem(undefined, Deno.env.get("APISERVER_CA_CERT_LOCATION"));
const cert = readPem(user?.certData, user?.certFile);
const key = readPem(user?.keyData, user?.keyFile);
const http = Deno.createHttpClient({
  caCerts: ca ? [ca] : undefined,
  ...(cert && key ? { cert, key } : {}),
});
const core = new k8s.CoreV1Api(k8s.createConfiguration({
  baseServer: new k8s.ServerConfiguration(cluster.server, {}),
  authMethods: { default: kc },
  httpApi: new DenoHttpLibrary(http) as unknown as k8s.HttpLibrary,
}));
await core.readNode({ name: "bench-node" }).catch(() => undefined);
if (Deno.args.includes("--idle")) {
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  setInterval(() => {}, 1 << 30);
}
