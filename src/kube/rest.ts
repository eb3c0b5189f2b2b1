// JSON requests to the Kubernetes API over Deno's fetch: the one place that turns a method,
// a path and a body into an HTTP exchange with the API server. Kubernetes objects are JSON,
// so requests and responses are plain objects typed with client-node's types; unlike
// client-node's generated models, timestamps stay RFC 3339 strings (its types say Date:
// convert with `new Date(x)` before treating one as a date). Failures throw client-node's
// ApiException (imported from its own small module) so callers see the same errors as before.

import { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
import type { AuthHeaders } from "./credentials.ts";

/** How a PATCH body is to be read by the API server. */
export type PatchType =
  | "application/json-patch+json"
  | "application/merge-patch+json"
  | "application/strategic-merge-patch+json";

export interface PatchOptions {
  contentType: PatchType;
}

/** A JSON Patch (RFC 6902): the generated client's default when no patch type is given. */
export const jsonPatch: PatchOptions = { contentType: "application/json-patch+json" };
/** A strategic merge patch (lists merge by their Kubernetes merge keys). */
export const strategicMerge: PatchOptions = {
  contentType: "application/strategic-merge-patch+json",
};
/** A JSON merge patch (RFC 7386). */
export const mergePatch: PatchOptions = { contentType: "application/merge-patch+json" };

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Content type of the body; JSON unless this is a patch. */
  contentType?: string;
}

export interface RestClient {
  /** The API server's URL, without a trailing slash. */
  readonly server: string;
  /** Authentication headers of the kubeconfig user, for callers doing their own fetch. */
  readonly authHeaders: AuthHeaders;
  readonly http: Deno.HttpClient;
  /** Sends one request; resolves with the decoded JSON response, throws ApiException. */
  request<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
}

/** `server` + `path` + the defined `query` parameters. */
export function apiUrl(server: string, path: string, query: Query = {}): URL {
  const url = new URL(server + path);
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  return url;
}

export function restClient(server: string, http: Deno.HttpClient, auth: AuthHeaders): RestClient {
  return {
    server,
    authHeaders: auth,
    http,
    async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
      const headers: Record<string, string> = {
        Accept: "application/json, */*;q=0.8",
        ...(await auth()),
      };
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers["Content-Type"] = opts.contentType ?? "application/json";
        body = JSON.stringify(opts.body);
      }
      const resp = await fetch(apiUrl(server, path, opts.query), {
        method,
        headers,
        body,
        client: http,
      });
      const text = await resp.text();
      let data: unknown = text;
      try {
        data = text ? JSON.parse(text) : undefined;
      } catch { /* not JSON: keep the text */ }
      if (resp.status < 200 || resp.status > 299) {
        const responseHeaders: Record<string, string> = {};
        resp.headers.forEach((value, name) => responseHeaders[name] = value);
        throw new ApiException(resp.status, "Unknown API Status Code!", data, responseHeaders);
      }
      return data as T;
    },
  };
}
