// HTTP transport to registries: which scheme a registry gets (TLS unless listed as insecure;
// a loopback registry is asked once whether it speaks TLS and gets plain HTTP only when it
// does not), the HTTP client (Deno's trust store plus an optional CA file), redirects
// followed by hand so the registry's Authorization header never reaches another origin
// (blob storage), untrusted certificates reported as such, and exponential backoff for
// retryable failures.

import { certificateProblem, errorDetail, isRetryable, TlsCertificateError } from "./errors.ts";
import { messageOf } from "../../util/errors.ts";
import type { Logger } from "../../telemetry/log.ts";
import { backoffDelay } from "../../util/backoff.ts";
import { silentLogger } from "../../telemetry/log.ts";

export interface RetryPolicy {
  /** Attempts in total (first try included). */
  attempts: number;
  /** Delay before the second attempt; doubles each time up to maxDelayMs, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * A request whose answer or next body bytes take longer than this (ms) has stalled: it is
   * given up and retried (blobs resume where they stopped). Default 30 s.
   */
  readTimeoutMs?: number;
}

export const DEFAULT_READ_TIMEOUT_MS = 30_000;

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 250, maxDelayMs: 10_000 };

export interface TransportOptions {
  /** Registries (host[:port]) reached over plain HTTP although not on loopback. */
  insecureRegistries?: string[];
  /** PEM file of extra CA certificates trusted besides the system store. */
  caFile?: string;
  retry?: RetryPolicy;
  log?: Logger;
  userAgent?: string;
}

const MAX_REDIRECTS = 5;
/** How long the TLS question to a loopback registry may take before plain HTTP is assumed. */
const PROBE_TIMEOUT_MS = 5_000;

/** True for localhost, 127.0.0.0/8 and ::1 (with or without a port). */
export function isLoopback(registry: string): boolean {
  let host = registry;
  if (host.startsWith("[")) host = host.slice(1, host.indexOf("]"));
  else if (host.includes(":")) host = host.slice(0, host.lastIndexOf(":"));
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export class Transport {
  readonly retry: RetryPolicy;
  readonly log: Logger;
  #insecure: Set<string>;
  #client?: Deno.HttpClient;
  #userAgent: string;
  /** Scheme learned per loopback registry (see #probe). */
  #loopbackSchemes = new Map<string, Promise<"http" | "https">>();

  constructor(opts: TransportOptions = {}) {
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.log = opts.log ?? silentLogger;
    this.#insecure = new Set((opts.insecureRegistries ?? []).map((r) => r.toLowerCase()));
    this.#userAgent = opts.userAgent ?? "macos-vz-kubelet";
    if (opts.caFile) {
      let pem: string;
      try {
        pem = Deno.readTextFileSync(opts.caFile);
      } catch (err) {
        throw new Error(`registry CA file ${opts.caFile}: ${messageOf(err)}`);
      }
      this.#client = Deno.createHttpClient({ caCerts: [pem] });
    }
  }

  /** Whether plain HTTP may be used with `apiHost`: loopback, or listed as insecure. */
  plainAllowed(apiHost: string): boolean {
    return isLoopback(apiHost) || this.#insecure.has(apiHost.toLowerCase());
  }

  /**
   * `https://host` for every registry, except `http://host` for listed insecure registries
   * and for loopback registries that do not speak TLS (a loopback registry may be a tunnel
   * to a TLS registry, or serve its own certificate).
   */
  async baseUrl(apiHost: string): Promise<string> {
    if (!isLoopback(apiHost)) {
      return `${this.#insecure.has(apiHost.toLowerCase()) ? "http" : "https"}://${apiHost}`;
    }
    let scheme = this.#loopbackSchemes.get(apiHost);
    if (!scheme) {
      scheme = this.#probe(apiHost);
      this.#loopbackSchemes.set(apiHost, scheme);
    }
    return `${await scheme}://${apiHost}`;
  }

  /**
   * Asks a loopback registry for `/v2/` over TLS: any HTTP answer, or a certificate we do not
   * trust (then the request itself reports it), means TLS. Anything else (a plain-HTTP
   * server answering the handshake with garbage, nothing listening) means plain HTTP; the
   * answer is kept only when the registry answered at all, so a registry that comes up
   * later is asked again.
   */
  async #probe(apiHost: string): Promise<"http" | "https"> {
    try {
      const response = await fetch(`https://${apiHost}/v2/`, {
        headers: { "User-Agent": this.#userAgent },
        redirect: "manual",
        client: this.#client,
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      } as RequestInit);
      await response.body?.cancel();
      return "https";
    } catch (err) {
      if (certificateProblem(err) !== undefined) return "https";
      if (
        !/corrupt message|InvalidContentType|record overflow|wrong version/i.test(errorDetail(err))
      ) {
        this.#loopbackSchemes.delete(apiHost);
      }
      return "http";
    }
  }

  /**
   * One request, following redirects by hand: the Authorization header goes only to the
   * origin it was made for. Network errors are thrown as they are (see withRetries).
   */
  async send(url: string, init: RequestInit): Promise<Response> {
    const origin = new URL(url).origin;
    let current = url;
    let headers = new Headers(init.headers);
    headers.set("User-Agent", this.#userAgent);
    let method = init.method ?? "GET";
    let body = init.body;
    for (let hop = 0;; hop++) {
      let response: Response;
      try {
        response = await fetch(current, {
          ...init,
          method,
          body,
          headers,
          redirect: "manual",
          client: this.#client,
        } as RequestInit);
      } catch (err) {
        const problem = certificateProblem(err);
        if (problem !== undefined) throw new TlsCertificateError(new URL(current).host, problem);
        // fetch's own message is "fetch failed": keep the class (retries key off it), add why.
        if (err instanceof TypeError && err.cause !== undefined) err.message = errorDetail(err);
        throw err;
      }
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || !location) return response;
      await response.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new Error(`too many redirects from ${url}`);
      const next = new URL(location, current);
      if (new URL(current).protocol === "https:" && next.protocol === "http:") {
        throw new Error(`refusing redirect from https to plain http (${next.origin})`);
      }
      if (next.origin !== origin && headers.has("Authorization")) {
        headers = new Headers(headers);
        headers.delete("Authorization");
      }
      if (response.status === 303 || (response.status <= 302 && method === "POST")) {
        method = "GET";
        body = undefined;
      }
      current = next.toString();
    }
  }

  /** How long a request may go without an answer or body bytes before it counts as stalled. */
  get readTimeoutMs(): number {
    return this.retry.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  }

  /** Delay before retry number `attempt` (1-based), exponential with ±25 % jitter. */
  backoffMs(attempt: number): number {
    return backoffDelay(attempt, {
      initialMs: this.retry.baseDelayMs,
      maxMs: this.retry.maxDelayMs,
      jitter: 0.25,
    });
  }

  /** Runs `fn` until it succeeds, a non-retryable error occurs, or attempts run out. */
  async withRetries<T>(what: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn(attempt);
      } catch (err) {
        if (!isRetryable(err) || attempt >= this.retry.attempts) throw err;
        const delay = this.backoffMs(attempt);
        this.log.warn("registry request failed; retrying", {
          what,
          attempt,
          delayMs: delay,
          error: messageOf(err),
        });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  close(): void {
    this.#client?.close();
  }
}
