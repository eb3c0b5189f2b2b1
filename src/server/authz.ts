// Authorisation of kubelet API requests, as the kubelet does it: the request becomes
// attributes on the node object (verb from the HTTP method, subresource from the path) and
// each is put to a SubjectAccessReview; allowed and denied answers are cached separately.

import type { AccessDecision, AuthApi, UserInfo } from "../kube/auth.ts";
import { createTtlCache } from "./ttl_cache.ts";

export interface RequestAttributes {
  verb: string;
  /** Tried in order; the request is allowed if any one is. */
  subresources: string[];
}

export interface AuthzResult {
  allowed: boolean;
  attrs: RequestAttributes;
  reason?: string;
}

export interface AuthorizerOptions {
  api: AuthApi;
  node: string;
  allowedTtlMs: number;
  deniedTtlMs: number;
  now?: () => number;
}

export type Authorizer = (user: UserInfo, method: string, path: string) => Promise<AuthzResult>;

const VERBS: Record<string, string> = {
  GET: "get",
  HEAD: "get",
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};

/** True when `path` is `base` or below it (`/stats` matches `/stats/summary`, not `/statsx`). */
export function isSubpath(path: string, base: string): boolean {
  const b = base.endsWith("/") ? base.slice(0, -1) : base;
  return path === b || (path.startsWith(b) && path[b.length] === "/");
}

/**
 * The kubelet's request attributes (pkg/kubelet/server/auth.go, fine-grained authz on):
 * /pods and /runningpods -> pods, /healthz -> healthz (each falling back to proxy),
 * /stats -> stats, /metrics -> metrics, /logs -> log, everything else -> proxy.
 */
export function requestAttributes(method: string, path: string): RequestAttributes {
  const verb = VERBS[method.toUpperCase()] ?? method.toLowerCase();
  const subresources: string[] = [];
  if (isSubpath(path, "/pods") || isSubpath(path, "/runningpods")) subresources.push("pods");
  else if (isSubpath(path, "/healthz")) subresources.push("healthz");
  else if (isSubpath(path, "/configz")) subresources.push("configz");
  if (isSubpath(path, "/stats")) subresources.push("stats");
  else if (isSubpath(path, "/metrics")) subresources.push("metrics");
  else if (isSubpath(path, "/logs")) subresources.push("log");
  else subresources.push("proxy");
  return { verb, subresources };
}

export function createAuthorizer(opts: AuthorizerOptions): Authorizer {
  const cache = createTtlCache<AccessDecision>({
    ttlMs: (d) => d.allowed ? opts.allowedTtlMs : opts.deniedTtlMs,
    now: opts.now,
  });
  return async (user, method, path) => {
    const attrs = requestAttributes(method, path);
    let reason: string | undefined;
    for (const subresource of attrs.subresources) {
      const access = { user, verb: attrs.verb, subresource, node: opts.node };
      const key = JSON.stringify([
        user.username,
        user.uid ?? "",
        [...user.groups].sort(),
        user.extra ?? {},
        attrs.verb,
        subresource,
      ]);
      const decision = await cache.get(key, () => opts.api.reviewAccess(access));
      if (decision.allowed) return { allowed: true, attrs };
      reason ??= decision.reason;
    }
    return { allowed: false, attrs, reason };
  };
}
