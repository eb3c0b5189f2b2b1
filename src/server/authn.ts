// Authentication of kubelet API callers, in the kubelet's order: a client certificate the TLS
// layer verified against --client-verify-ca (CN = user, O = groups), else a bearer token
// checked with TokenReview when --authentication-token-webhook is on (answers cached).
// Nothing else authenticates: there is no anonymous access.

import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { createHash } from "node:crypto";
import type { AuthApi, TokenReviewResult, UserInfo } from "../kube/auth.ts";
import { createTtlCache } from "./ttl_cache.ts";

export type AuthnResult =
  | { ok: true; user: UserInfo; method: "x509" | "token" }
  | { ok: false; reason: string };

export interface AuthenticatorOptions {
  /** True when the TLS layer asks for client certificates (not --no-verify-clients). */
  verifyClients: boolean;
  /** TokenReview; undefined when the token webhook is off. */
  tokens?: AuthApi;
  /** How long a TokenReview answer that accepted the token is reused. */
  tokenTtlMs: number;
  now?: () => number;
}

export type Authenticator = (req: IncomingMessage) => Promise<AuthnResult>;

/** Group every authenticated user is in, as the API server adds it. */
const AUTHENTICATED = "system:authenticated";
/** Rejected tokens are remembered for a shorter time than accepted ones. */
const REJECTED_TTL_MS = 10_000;

export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const cache = createTtlCache<TokenReviewResult>({
    ttlMs: (r) => r.authenticated ? opts.tokenTtlMs : Math.min(REJECTED_TTL_MS, opts.tokenTtlMs),
    now: opts.now,
  });
  return async (req) => {
    if (opts.verifyClients) {
      const user = certificateUser(req.socket as TLSSocket);
      if (user) return { ok: true, user, method: "x509" };
    }
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) {
      return { ok: false, reason: opts.verifyClients ? "no verified client certificate" : "none" };
    }
    if (!opts.tokens) return { ok: false, reason: "bearer tokens are not accepted" };
    const api = opts.tokens;
    // The key is a digest: the cache never holds the token itself.
    const key = createHash("sha256").update(token).digest("hex");
    const review = await cache.get(key, () => api.reviewToken(token));
    if (!review.authenticated || !review.user) {
      return { ok: false, reason: `token rejected: ${review.error ?? "not authenticated"}` };
    }
    return { ok: true, user: withAuthenticated(review.user), method: "token" };
  };
}

/** The user named by a client certificate the TLS layer verified; undefined otherwise. */
export function certificateUser(socket: TLSSocket): UserInfo | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate?.();
  const subject = cert?.subject as Record<string, string | string[] | undefined> | undefined;
  const cn = first(subject?.CN);
  if (!cn) return undefined;
  const orgs = subject?.O;
  const groups = orgs === undefined ? [] : Array.isArray(orgs) ? orgs : [orgs];
  return withAuthenticated({ username: cn, groups });
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function withAuthenticated(user: UserInfo): UserInfo {
  return user.groups.includes(AUTHENTICATED)
    ? user
    : { ...user, groups: [...user.groups, AUTHENTICATED] };
}
