// How one operation of client-node's request-object API (`readNode({ name })`,
// `patchNamespacedPodStatus({ name, namespace, body }, strategicMerge)`) becomes one REST
// request: name and namespace go into the path, body into the body, every other field into
// the query string, as the generated client does it. Shared by core_api.ts and the other
// hand-written API groups.

import { jsonPatch, type PatchOptions, type Query, type RestClient } from "./rest.ts";

export interface ResourceParams {
  name?: string;
  namespace?: string;
  body?: unknown;
}

/** `<prefix>[/namespaces/<ns>]/<resource>[/<name>[/<sub>]]`, each segment URL-escaped. */
export function resourcePath(
  prefix: string,
  resource: string,
  p: ResourceParams,
  sub?: string,
): string {
  const seg = (s: string) => encodeURIComponent(s);
  let out = prefix;
  if (p.namespace !== undefined) out += `/namespaces/${seg(p.namespace)}`;
  out += `/${resource}`;
  if (p.name !== undefined) out += `/${seg(p.name)}`;
  if (sub) out += `/${sub}`;
  return out;
}

/** Every request field that is not in the path or the body is a query parameter. */
export function resourceQuery(p: object): Query {
  const q: Query = {};
  for (const [k, v] of Object.entries(p)) {
    if (k === "name" || k === "namespace" || k === "body" || v === undefined) continue;
    q[k === "_continue" ? "continue" : k] = v as string | number | boolean;
  }
  return q;
}

/** Operations take client-node's request objects: `ResourceParams` plus query fields. */
type Request = ResourceParams | object;

export interface ResourceCalls {
  call<T>(method: string, resource: string, p: Request, sub?: string): Promise<T>;
  /** A PATCH; a JSON Patch unless `opts` says otherwise (the generated client's default). */
  patch<T>(resource: string, p: Request, sub?: string, opts?: PatchOptions): Promise<T>;
}

/** Calls on the resources of one API group version, e.g. prefix "/api/v1". */
export function resourceCalls(rest: RestClient, prefix: string): ResourceCalls {
  const send = <T>(method: string, resource: string, req: Request, sub?: string, type?: string) => {
    const p = req as ResourceParams;
    return rest.request<T>(method, resourcePath(prefix, resource, p, sub), {
      query: resourceQuery(p),
      body: p.body,
      contentType: type,
    });
  };
  return {
    call: (method, resource, p, sub) => send(method, resource, p, sub),
    patch: (resource, p, sub, opts = jsonPatch) =>
      send("PATCH", resource, p, sub, opts.contentType),
  };
}
