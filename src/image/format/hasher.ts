// Streaming sha256 off the JS thread: the system's own SHA-256 (OpenSSL's libcrypto on
// Linux, CommonCrypto on macOS) called through Deno's FFI as `nonblocking` symbols, which
// Deno runs on a blocking-pool thread and answers with a promise. Hashing is the largest
// CPU cost of a pull (every uncompressed byte); here it runs on a second core while this
// thread inflates and writes, with no copy and no worker isolate. Updates are applied in
// order; at most MAX_PENDING bytes wait, so callers get backpressure, not memory growth.
// Without FFI (no permission, no library) the same interface hashes inline (node:crypto).

import { createHash, type Hash } from "node:crypto";
import { SHA256_PREFIX } from "./digest.ts";

const MAX_PENDING = 8 << 20;

interface NativeSha256 {
  /** A new context, initialised. */
  create(): Deno.PointerValue;
  update(ctx: Deno.PointerValue, data: Uint8Array): Promise<unknown>;
  /** Writes the 32-byte digest and frees the context. */
  final(ctx: Deno.PointerValue, out: Uint8Array): void;
}

function openLinux(): NativeSha256 {
  const lib = Deno.dlopen("libcrypto.so.3", {
    EVP_MD_CTX_new: { parameters: [], result: "pointer" },
    EVP_MD_CTX_free: { parameters: ["pointer"], result: "void" },
    EVP_sha256: { parameters: [], result: "pointer" },
    EVP_DigestInit_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
    EVP_DigestUpdate: {
      parameters: ["pointer", "buffer", "usize"],
      result: "i32",
      nonblocking: true,
    },
    EVP_DigestFinal_ex: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
  });
  const s = lib.symbols;
  return {
    create() {
      const ctx = s.EVP_MD_CTX_new();
      if (!ctx || s.EVP_DigestInit_ex(ctx, s.EVP_sha256(), null) !== 1) {
        throw new Error("libcrypto: EVP_DigestInit_ex failed");
      }
      return ctx;
    },
    update: (ctx, data) => s.EVP_DigestUpdate(ctx, data, BigInt(data.byteLength)),
    final(ctx, out) {
      const ok = s.EVP_DigestFinal_ex(ctx, out, null);
      s.EVP_MD_CTX_free(ctx);
      if (ok !== 1) throw new Error("libcrypto: EVP_DigestFinal_ex failed");
    },
  };
}

/** CC_SHA256_CTX: count[2], hash[8], wbuf[16], all 32-bit. */
const CC_CTX_BYTES = 104;

function openDarwin(): NativeSha256 {
  const lib = Deno.dlopen("/usr/lib/libSystem.B.dylib", {
    CC_SHA256_Init: { parameters: ["buffer"], result: "i32" },
    CC_SHA256_Update: { parameters: ["buffer", "buffer", "u32"], result: "i32", nonblocking: true },
    CC_SHA256_Final: { parameters: ["buffer", "buffer"], result: "i32" },
  });
  const s = lib.symbols;
  const contexts = new Map<bigint | number, Uint8Array>();
  let next = 1;
  return {
    create() {
      const ctx = new Uint8Array(CC_CTX_BYTES);
      s.CC_SHA256_Init(ctx);
      const id = next++;
      contexts.set(id, ctx);
      return Deno.UnsafePointer.create(BigInt(id));
    },
    update: (ctx, data) => s.CC_SHA256_Update(ctxOf(ctx), data, data.byteLength),
    final(ctx, out) {
      s.CC_SHA256_Final(out, ctxOf(ctx));
      contexts.delete(Deno.UnsafePointer.value(ctx));
    },
  };
  function ctxOf(p: Deno.PointerValue): Uint8Array {
    const ctx = contexts.get(Deno.UnsafePointer.value(p));
    if (!ctx) throw new Error("CommonCrypto: unknown SHA-256 context");
    return ctx;
  }
}

let native: NativeSha256 | null | undefined;

/** The system's SHA-256 through FFI, or null when it cannot be loaded here. */
function nativeSha256(): NativeSha256 | null {
  if (native !== undefined) return native;
  try {
    native = Deno.build.os === "darwin"
      ? openDarwin()
      : Deno.build.os === "linux"
      ? openLinux()
      : null;
  } catch {
    native = null; // no --allow-ffi, or no library: hash inline
  }
  return native;
}

/** Incremental sha256 plus a byte count, hashed on another thread when possible. */
export class StreamHasher {
  bytes = 0;
  #ctx: Deno.PointerValue | undefined;
  #inline: Hash | undefined;
  #inFlight: { done: Promise<unknown>; size: number }[] = [];
  #pending = 0;
  #failure: unknown;

  constructor(forceInline = false) {
    const lib = forceInline ? null : nativeSha256();
    if (lib) this.#ctx = lib.create();
    else this.#inline = createHash("sha256");
  }

  /** True when the hashing runs off this thread. */
  get offThread(): boolean {
    return this.#inline === undefined;
  }

  /**
   * Adds `chunk`, which must stay unchanged until `digest()` resolves (or until the promise
   * this returns resolves, for chunks beyond the pending limit). Resolves once there is room.
   */
  async update(chunk: Uint8Array): Promise<void> {
    this.bytes += chunk.byteLength;
    if (this.#inline) {
      this.#inline.update(chunk);
      return;
    }
    const previous = this.#inFlight.at(-1)?.done ?? Promise.resolve();
    const done = previous.then(() => nativeSha256()!.update(this.#ctx!, chunk)).catch((err) => {
      this.#failure ??= err;
    });
    this.#inFlight.push({ done, size: chunk.byteLength });
    this.#pending += chunk.byteLength;
    while (this.#pending > MAX_PENDING) {
      const oldest = this.#inFlight.shift()!;
      await oldest.done;
      this.#pending -= oldest.size;
    }
  }

  /** Settles once every chunk given so far has been hashed (and may be reused). */
  hashed(): Promise<unknown> {
    return this.#inFlight.at(-1)?.done ?? Promise.resolve();
  }

  /** "sha256:<hex>" once every update has been hashed; call once. */
  async digest(): Promise<string> {
    if (this.#inline) return SHA256_PREFIX + this.#inline.digest("hex");
    await Promise.all(this.#inFlight.map((f) => f.done));
    this.#inFlight = [];
    if (this.#failure) throw this.#failure;
    const out = new Uint8Array(32);
    nativeSha256()!.final(this.#ctx!, out);
    return SHA256_PREFIX + Array.from(out, (b) => b.toString(16).padStart(2, "0")).join("");
  }
}
