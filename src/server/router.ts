// Maps a kubelet API request path to the route that serves it (the kubelet's own paths),
// as a pure function so the table can be tested without a server.

export type Route =
  | { kind: "healthz" | "pods" | "runningpods" | "statsSummary" | "metricsResource" | "metrics" }
  | { kind: "containerLogs"; namespace: string; pod: string; container: string }
  | { kind: "exec" | "attach"; namespace: string; pod: string; uid?: string; container: string }
  | { kind: "portForward"; namespace: string; pod: string; uid?: string };

export type RouteKind = Route["kind"];

/** Routes that are served by upgrading the connection (SPDY or WebSocket). */
export const STREAMING: ReadonlySet<RouteKind> = new Set(["exec", "attach", "portForward"]);

const FIXED: Record<string, RouteKind> = {
  "/healthz": "healthz",
  "/pods": "pods",
  "/pods/": "pods",
  "/runningpods": "runningpods",
  "/runningpods/": "runningpods",
  "/stats/summary": "statsSummary",
  "/stats/summary/": "statsSummary",
  "/metrics/resource": "metricsResource",
  "/metrics": "metrics",
};

/** The route for `path`, or undefined when nothing is served there. */
export function matchRoute(path: string): Route | undefined {
  const fixed = FIXED[path];
  if (fixed) return { kind: fixed } as Route;
  let parts: string[];
  try {
    parts = path.split("/").slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (parts.some((p) => p === "")) return undefined;
  const [head, namespace, pod, ...rest] = parts;
  if (!namespace || !pod) return undefined;
  switch (head) {
    case "containerLogs":
      return rest.length === 1
        ? { kind: "containerLogs", namespace, pod, container: rest[0] }
        : undefined;
    case "exec":
    case "attach":
      if (rest.length === 1) return { kind: head, namespace, pod, container: rest[0] };
      if (rest.length === 2) {
        return { kind: head, namespace, pod, uid: rest[0], container: rest[1] };
      }
      return undefined;
    case "portForward":
      if (rest.length === 0) return { kind: "portForward", namespace, pod };
      if (rest.length === 1) return { kind: "portForward", namespace, pod, uid: rest[0] };
      return undefined;
  }
  return undefined;
}

/** Which methods each route answers. */
export function methodAllowed(kind: RouteKind, method: string): boolean {
  if (STREAMING.has(kind)) return method === "GET" || method === "POST";
  if (kind === "statsSummary") return method === "GET" || method === "POST" || method === "HEAD";
  return method === "GET" || method === "HEAD";
}
