// Content digests: validating `sha256:<hex>` strings, hashing bytes and streams with
// node:crypto (incremental, native; WebCrypto cannot hash a stream), and a size-checking
// verifier that content must pass before anything trusts it.

import { createHash, type Hash } from "node:crypto";

export const SHA256_PREFIX = "sha256:";
const SHA256 = /^sha256:[a-f0-9]{64}$/;

/** True for "sha256:" followed by 64 lowercase hex digits (the only algorithm we accept). */
export function isSha256Digest(text: string): boolean {
  return SHA256.test(text);
}

/** Throws unless `digest` is a sha256 digest; `what` names it in the message. */
export function assertSha256Digest(digest: string, what: string): void {
  if (!isSha256Digest(digest)) {
    throw new Error(`${what}: unsupported or malformed digest "${digest}" (want sha256:<64 hex>)`);
  }
}

/** The hex part of a sha256 digest. */
export function digestHex(digest: string): string {
  assertSha256Digest(digest, "digest");
  return digest.slice(SHA256_PREFIX.length);
}

export function sha256Of(data: Uint8Array | string): string {
  return SHA256_PREFIX + createHash("sha256").update(data).digest("hex");
}

/** Incremental sha256 plus a byte count. */
export class DigestCounter {
  #hash: Hash = createHash("sha256");
  bytes = 0;

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.bytes += chunk.byteLength;
  }

  /** "sha256:<hex>"; call once. */
  digest(): string {
    return SHA256_PREFIX + this.#hash.digest("hex");
  }
}

/** Error thrown when content does not match what its descriptor promised. */
export class DigestMismatchError extends Error {
  constructor(what: string, expected: string, actual: string) {
    super(`${what}: digest mismatch: expected ${expected}, got ${actual}`);
    this.name = "DigestMismatchError";
  }
}

/** Throws DigestMismatchError / a size error when a finished counter does not match. */
export function verifyCounter(
  counter: DigestCounter,
  expected: { digest: string; size?: number },
  what: string,
): void {
  verifyDigest(counter.bytes, counter.digest(), expected, what);
}

/** Throws DigestMismatchError when `bytes` and `actual` are not what was expected. */
export function verifyDigest(
  bytes: number,
  actual: string,
  expected: { digest: string; size?: number },
  what: string,
): void {
  if (expected.size !== undefined && bytes !== expected.size) {
    throw new DigestMismatchError(what, `${expected.size} bytes`, `${bytes} bytes`);
  }
  if (actual !== expected.digest) throw new DigestMismatchError(what, expected.digest, actual);
}
