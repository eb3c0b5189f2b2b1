// Error types of the registry client, so callers (the runtime's pod events, the CLI's exit
// line) can tell "the registry rejected our credentials" from "not found" from "corrupt".

import { messageOf } from "../../util/errors.ts";

/** The registry answered with an HTTP error. `code` is the OCI error code when it sent one. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly registry: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/** The registry (or its token service) refused the credentials, or wants some we lack. */
export class AuthError extends RegistryError {
  constructor(message: string, registry: string, status: number) {
    super(message, registry, status, "UNAUTHORIZED");
    this.name = "AuthError";
  }
}

/** The manifest or blob does not exist. */
export class NotFoundError extends RegistryError {
  constructor(message: string, registry: string, code?: string) {
    super(message, registry, 404, code);
    this.name = "NotFoundError";
  }
}

/**
 * The registry's TLS certificate is not trusted, or does not fit the registry. Retrying does
 * not help; the message says what would.
 */
export class TlsCertificateError extends Error {
  constructor(readonly registry: string, readonly problem: string) {
    const fix = /issuer|self.?signed|UnknownCA|unknown ca/i.test(problem)
      ? "if a private CA signed it, give that CA's certificate (PEM) with --registry-ca FILE " +
        "(environment VZK_REGISTRY_CA)"
      : "the registry must present a valid certificate for this host name";
    super(`registry ${registry}: TLS certificate not accepted (${problem}); ${fix}`);
    this.name = "TlsCertificateError";
  }
}

/** A registry that stopped answering: no response or no body bytes within the read timeout. */
export class RegistryStallError extends Error {
  constructor(readonly registry: string, readonly afterMs: number, readonly atByte: number) {
    super(
      `registry ${registry} stalled: no data for ${Math.round(afterMs / 1000)} s at byte ${atByte}`,
    );
    this.name = "RegistryStallError";
  }
}

/** An error's message followed by its causes' (fetch says "fetch failed"; the cause says why). */
export function errorDetail(err: unknown): string {
  let text = messageOf(err);
  let cause = (err as { cause?: unknown } | undefined)?.cause;
  for (let depth = 0; cause !== undefined && depth < 4; depth++) {
    text += `: ${messageOf(cause)}`;
    cause = (cause as { cause?: unknown } | undefined)?.cause;
  }
  return text;
}

/** What the TLS layer said about the peer's certificate, when that is why `err` happened. */
export function certificateProblem(err: unknown): string | undefined {
  const text = errorDetail(err);
  const m = /invalid peer certificate:? ?([^\n]*)/i.exec(text) ??
    /(certificate verify failed[^\n]*|UnknownIssuer|self[- ]signed certificate[^\n]*)/i.exec(text);
  return m ? (m[1] || m[0]).trim() : undefined;
}

/** Extracts the first OCI error code and message from an error response body. */
export async function registryErrorDetail(
  response: Response,
): Promise<{ code?: string; message: string }> {
  let text = "";
  try {
    text = (await response.text()).slice(0, 2000);
  } catch {
    // body unreadable: fall back to the status line
  }
  try {
    const json = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = json.errors?.[0];
    if (first) {
      return {
        code: first.code,
        message: `${first.code ?? response.status}${first.message ? `: ${first.message}` : ""}`,
      };
    }
  } catch {
    // not JSON
  }
  const line = text.trim().split("\n")[0]?.slice(0, 200);
  return { message: `HTTP ${response.status}${line ? `: ${line}` : ""}` };
}

/** True for errors worth retrying: connection failures, timeouts, 5xx and 429. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof AuthError || err instanceof NotFoundError) return false;
  if (err instanceof TlsCertificateError) return false;
  if (err instanceof RegistryStallError) return true;
  if (err instanceof RegistryError) return err.status >= 500 || err.status === 429;
  if (err instanceof TypeError) return true; // fetch's network errors
  if (err instanceof Deno.errors.ConnectionReset) return true;
  if (err instanceof Deno.errors.ConnectionRefused) return true;
  if (err instanceof Deno.errors.ConnectionAborted) return true;
  if (err instanceof Deno.errors.UnexpectedEof) return true;
  if (err instanceof Deno.errors.Interrupted) return true;
  if (err instanceof Deno.errors.TimedOut) return true;
  if (err instanceof DOMException && err.name === "TimeoutError") return true;
  if (err instanceof Error && /connection|reset|closed|eof|socket|body/i.test(err.message)) {
    return !(err.name === "AbortError");
  }
  return false;
}
