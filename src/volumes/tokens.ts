// Service-account tokens for a pod's projected volumes, from the TokenRequest API: bound to
// the pod, with the audience and lifetime the volume asks for, and requested again once 80 %
// of their lifetime has passed or they are a day old (the kubelet's rule). Tokens are secrets:
// they are never logged and never appear in errors.

import type * as k8s from "@kubernetes/client-node";
import type { ObjectReader } from "../kube/objects.ts";

const DAY_MS = 24 * 3600_000;

interface Held {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

/** The kubelet's share of a token's lifetime after which it is requested again. */
export const TOKEN_REFRESH_FRACTION = 0.8;

/** When a token issued at `issuedAt`, expiring at `expiresAt`, is requested again. */
export function tokenRefreshAt(
  issuedAt: number,
  expiresAt: number,
  fraction = TOKEN_REFRESH_FRACTION,
): number {
  return Math.min(issuedAt + fraction * (expiresAt - issuedAt), issuedAt + DAY_MS);
}

/** Whether a token issued at `issuedAt`, expiring at `expiresAt`, should be requested again. */
export function tokenNeedsRefresh(
  issuedAt: number,
  expiresAt: number,
  now: number,
  fraction = TOKEN_REFRESH_FRACTION,
): boolean {
  return now >= tokenRefreshAt(issuedAt, expiresAt, fraction);
}

/** The tokens of one pod, by audience and lifetime. */
export class PodTokens {
  #held = new Map<string, Held>();

  constructor(
    private readonly pod: k8s.V1Pod,
    private readonly reader: ObjectReader,
    private readonly now: () => number = Date.now,
    /** Tests: a smaller share of the lifetime (the API allows no token under 10 minutes). */
    private readonly fraction = TOKEN_REFRESH_FRACTION,
  ) {}

  /** A valid token for `audience` (the API server's when empty) and `expirationSeconds`. */
  async token(audience: string | undefined, expirationSeconds: number): Promise<string> {
    const key = `${audience ?? ""}\n${expirationSeconds}`;
    const held = this.#held.get(key);
    if (held && !tokenNeedsRefresh(held.issuedAt, held.expiresAt, this.now(), this.fraction)) {
      return held.token;
    }
    const m = this.pod.metadata!;
    const sa = this.pod.spec?.serviceAccountName || "default";
    const issuedAt = this.now();
    const got = await this.reader.token(m.namespace!, sa, {
      audiences: audience ? [audience] : undefined,
      expirationSeconds,
      pod: { name: m.name!, uid: m.uid! },
    }).catch((err: unknown) => {
      throw new Error(
        `service account token for ${m.namespace}/${sa}: ${
          err instanceof Error ? err.message : err
        }`,
      );
    });
    const expiresAt = got.expiresAt?.getTime() ?? issuedAt + expirationSeconds * 1000;
    this.#held.set(key, { token: got.token, issuedAt, expiresAt });
    return got.token;
  }

  /** The earliest time one of the held tokens needs a refresh (for scheduling). */
  nextRefreshAt(): number | undefined {
    let next: number | undefined;
    for (const h of this.#held.values()) {
      const at = tokenRefreshAt(h.issuedAt, h.expiresAt, this.fraction);
      next = next === undefined ? at : Math.min(next, at);
    }
    return next;
  }
}
