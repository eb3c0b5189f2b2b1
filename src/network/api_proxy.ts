// The API server, reachable from guests and pod containers: this node runs no kube-proxy, so
// the `kubernetes` service's ClusterIP routes nowhere. The agent listens on the host's address
// as its VMs (and Docker networks) see it and passes TCP through to the API server untouched:
// TLS stays end to end between the pod and the API server, so an in-cluster client verifies
// the server's certificate against the mounted CA, under the name kubernetes.default.svc that
// pods are given (in /etc/hosts) together with KUBERNETES_SERVICE_HOST/PORT.

export const API_SERVICE_NAME = "kubernetes.default.svc";

export interface ApiProxy {
  /** Listens on `address` (idempotent); rejects when the port is taken there. */
  listen(address: string): Promise<void>;
  readonly port: number;
  close(): void;
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

async function pipe(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  const close = () => {
    for (const c of [a, b]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  await Promise.all([
    a.readable.pipeTo(b.writable).catch(() => {}),
    b.readable.pipeTo(a.writable).catch(() => {}),
  ]).finally(close);
}

export function createApiProxy(
  upstream: { hostname: string; port: number },
  port: number,
  log: { warn(msg: string, fields?: Record<string, unknown>): void },
): ApiProxy {
  const listeners = new Map<string, Deno.Listener>();
  async function serve(l: Deno.Listener) {
    for await (const conn of l) {
      Deno.connect(upstream).then(
        (up) => void pipe(conn, up),
        (err) => {
          log.warn("cannot reach the API server for a pod", { error: errText(err) });
          conn.close();
        },
      );
    }
  }
  return {
    port,
    listen(address) {
      if (listeners.has(address)) return Promise.resolve();
      let l: Deno.Listener;
      try {
        l = Deno.listen({ hostname: address, port, transport: "tcp" });
      } catch (err) {
        return Promise.reject(
          new Error(
            `the API server proxy cannot listen on ${address}:${port}: ${errText(err)}; ` +
              "set --api-proxy-port to a free port",
          ),
        );
      }
      listeners.set(address, l);
      serve(l).catch(() => {});
      return Promise.resolve();
    },
    close() {
      for (const l of listeners.values()) l.close();
      listeners.clear();
    },
  };
}

/** The environment a kubelet gives every container about the `kubernetes` service. */
export function apiServiceEnv(port: number, address: string): [string, string][] {
  return [
    ["KUBERNETES_SERVICE_HOST", API_SERVICE_NAME],
    ["KUBERNETES_SERVICE_PORT", String(port)],
    ["KUBERNETES_SERVICE_PORT_HTTPS", String(port)],
    ["KUBERNETES_PORT", `tcp://${API_SERVICE_NAME}:${port}`],
    [`KUBERNETES_PORT_${port}_TCP`, `tcp://${API_SERVICE_NAME}:${port}`],
    [`KUBERNETES_PORT_${port}_TCP_PROTO`, "tcp"],
    [`KUBERNETES_PORT_${port}_TCP_PORT`, String(port)],
    [`KUBERNETES_PORT_${port}_TCP_ADDR`, address],
  ];
}
