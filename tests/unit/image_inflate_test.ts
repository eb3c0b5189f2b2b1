// Unit tests of the pull's hot path pieces: the native inflater over node:zlib's handle
// (present under the pinned Deno, multi-member gzip, corrupt data named), the ring of reused
// output buffers, and the off-thread SHA-256 (same digests as node:crypto).

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { BufferRing, openInflater } from "../../src/image/store/inflate.ts";
import { StreamHasher } from "../../src/image/format/hasher.ts";

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

function inflateAll(gz: Uint8Array, outSize: number): Uint8Array {
  const inflater = openInflater();
  assert.ok(inflater, "node:zlib's native handle is reachable under the pinned Deno");
  const parts: Uint8Array[] = [];
  const out = new Uint8Array(outSize);
  let at = 0;
  const drain = (input: Uint8Array, finish: boolean) => {
    for (;;) {
      const r = inflater.write(input, at, input.length - at, out, 0, out.length, finish);
      at += r.consumed;
      parts.push(out.slice(0, r.produced));
      if (r.produced < out.length && (at >= input.length || r.consumed === 0)) return;
    }
  };
  drain(gz, false);
  at = 0;
  drain(new Uint8Array(0), true);
  inflater.close();
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(total);
  let o = 0;
  for (const p of parts) joined.set(p, (o += p.length) - p.length);
  return joined;
}

Deno.test("image inflate: native handle, small output buffers, two gzip members", () => {
  const a = randomBytes(300_000);
  const b = new TextEncoder().encode("second member ".repeat(50_000));
  const gz = new Uint8Array([...zlib.gzipSync(a), ...zlib.gzipSync(b)]);
  const got = inflateAll(gz, 4096);
  assert.equal(got.length, a.length + b.length);
  assert.deepEqual(got.subarray(0, a.length), a);
  assert.deepEqual(got.subarray(a.length), b);
});

Deno.test("image inflate: corrupt data throws with a Z_ code", () => {
  const gz = zlib.gzipSync(randomBytes(100_000));
  gz[20] ^= 0xff;
  gz[21] ^= 0xff;
  assert.throws(() => inflateAll(gz, 65536), (err: Error & { code?: string }) => {
    assert.match(String(err.code), /^Z_/);
    return true;
  });
});

Deno.test("image inflate: a ring buffer is handed out again only after its hold", async () => {
  const ring = new BufferRing(2, 16);
  const first = await ring.take();
  let release!: () => void;
  ring.hold(first.index, new Promise<void>((r) => (release = r)));
  const second = await ring.take();
  assert.notEqual(second.index, first.index);
  let third: number | undefined;
  const taking = ring.take().then((t) => (third = t.index));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, undefined, "still held");
  release();
  await taking;
  assert.equal(third, first.index);
});

Deno.test("image hasher: off-thread SHA-256 matches node:crypto, in order, any chunking", async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const want = "sha256:" + createHash("sha256").update(data).digest("hex");
  for (const inline of [false, true]) {
    const h = new StreamHasher(inline);
    if (!inline && Deno.build.os === "linux") assert.ok(h.offThread, "libcrypto through FFI");
    for (let at = 0; at < data.length; at += 65_537) {
      await h.update(data.subarray(at, Math.min(data.length, at + 65_537)));
    }
    assert.equal(h.bytes, data.length);
    assert.equal(await h.digest(), want);
  }
});
