// Unit tests of the pull's hot path pieces: the native inflater over node:zlib's handle
// (present under the pinned Deno, multi-member gzip, corrupt data named), the ring of reused
// output buffers, and the hash worker (same digests as node:crypto).

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { BufferRing, openInflater } from "../../src/image/store/inflate.ts";
import { HashWorker } from "../../src/image/store/hash_client.ts";

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

Deno.test("image hasher: the hash worker reads the shared buffer in place, in order", async () => {
  const shared = new SharedArrayBuffer(4 * 1024 * 1024);
  const view = new Uint8Array(shared);
  view.set(randomBytes(view.length));
  const worker = new HashWorker(shared);
  try {
    const plain = worker.hasher;
    for (let at = 0; at < view.length; at += 65_537) {
      plain.update(view.subarray(at, Math.min(view.length, at + 65_537)));
    }
    await plain.hashed();
    assert.equal(plain.bytes, view.length);
    assert.equal(await plain.digest(), "sha256:" + createHash("sha256").update(view).digest("hex"));
    assert.throws(() => plain.update(new Uint8Array(4)), /not in the shared buffer/);
  } finally {
    worker.close();
  }
});
