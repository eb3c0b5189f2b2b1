// The request headers that authenticate the kubeconfig's user to the API server (its client
// certificate travels in the TLS handshake instead, see http.ts). Bearer tokens (token or
// token-file), basic auth and impersonation are plain headers, built here exactly as
// client-node's KubeConfig.applySecurityAuthentication builds them. Users that need an
// authenticator (an exec plugin, or an auth-provider such as oidc) are handed to client-node's
// KubeConfig itself, loaded on first use: it carries the whole generated API with it, which
// a node agent authenticating with a certificate should not pay for.

import type { KubeConfig, User } from "./kubeconfig.ts";

type ClientNode = typeof import("@kubernetes/client-node");

export type AuthHeaders = () => Promise<Record<string, string>>;

/** Whether client-node's authenticators (exec, auth-provider) are needed for `user`. */
function needsAuthenticator(user: User | null): boolean {
  return !!(user?.exec || user?.authProvider);
}

/** The headers of the kubeconfig's current user, computed for each request. */
export function authHeaders(kc: KubeConfig): AuthHeaders {
  const user = kc.getCurrentUser();
  if (needsAuthenticator(user)) return delegated(kc);
  const headers: Record<string, string> = {};
  if (user?.username) {
    headers.Authorization = `Basic ${base64Utf8(`${user.username}:${user.password}`)}`;
  }
  if (user?.impersonateUser != null) headers["Impersonate-User"] = user.impersonateUser;
  if (user?.token) headers.Authorization = `Bearer ${user.token}`;
  return () => Promise.resolve({ ...headers });
}

/** Headers from client-node's own KubeConfig (exec plugins refresh their tokens there). */
function delegated(kc: KubeConfig): AuthHeaders {
  let loaded:
    | Promise<{ k8s: ClientNode; full: InstanceType<ClientNode["KubeConfig"]> }>
    | undefined;
  const load = async () => {
    const k8s = await import("@kubernetes/client-node");
    const full = new k8s.KubeConfig();
    full.loadFromOptions({
      clusters: kc.clusters,
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext ?? "",
    });
    return { k8s, full };
  };
  return async () => {
    const { k8s, full } = await (loaded ??= load());
    const ctx = new k8s.RequestContext(kc.getCurrentCluster()?.server ?? "", k8s.HttpMethod.GET);
    await full.applySecurityAuthentication(ctx);
    return ctx.getHeaders();
  };
}

/** Base64 of the UTF-8 bytes of `text` (what Buffer.from(text).toString("base64") gives). */
function base64Utf8(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}
