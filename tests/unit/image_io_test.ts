// Unit tests of the image subsystem's local I/O pieces: zero detection and sparse writing,
// the parallel gzip encoder (valid single-member gzip, identical output for any worker
// count), verification records validated by stat, shared flights, progress text.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { isZero, SparseWriter } from "../../src/image/store/sparse.ts";
import { DeflatePool, gzipRange } from "../../src/image/push/gzip_parallel.ts";
import { checkVerified, recordVerified } from "../../src/image/store/store_fs.ts";
import { SingleFlight } from "../../src/image/store/singleflight.ts";
import { formatBytes, formatDuration, ProgressView } from "../../src/image/cli/progress.ts";

Deno.test("image sparse: zero detection at any alignment, holes not written", async () => {
  const buf = new Uint8Array(10_000);
  assert.ok(isZero(buf));
  assert.ok(isZero(buf.subarray(3, 9_999)));
  buf[7777] = 1;
  assert.ok(!isZero(buf));
  assert.ok(!isZero(buf.subarray(1, 7778)));
  assert.ok(isZero(buf, 0, 7777));
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/f`;
    const file = await Deno.open(path, { read: true, write: true, create: true });
    await file.truncate(8 << 20);
    const w = new SparseWriter(file, 4096 * 3 + 100);
    const data = new Uint8Array(1 << 20);
    data.fill(9, 500_000, 600_000);
    w.write(data.subarray(0, 300_000));
    w.write(data.subarray(300_000));
    await w.finish(8 << 20);
    file.close();
    assert.ok(w.stats.written < 110_000, `written ${w.stats.written}`);
    assert.equal(w.stats.written + w.stats.skipped, 1 << 20);
    const back = await Deno.readFile(path);
    const expected = new Uint8Array(8 << 20);
    expected.set(data, 4096 * 3 + 100);
    assert.deepEqual(back, expected);
    assert.ok(((await Deno.stat(path)).blocks ?? 0) * 512 < 200_000, "holes stay holes");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("image gzip: parallel output is one valid gzip member, same for any pool size", async () => {
  const dir = await Deno.makeTempDir();
  const input = `${dir}/in`;
  const data = new Uint8Array(3 * 1024 * 1024 + 12345);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 20_000));
  data.set(new TextEncoder().encode("repeat ".repeat(50_000)), 100_000);
  await Deno.writeFile(input, data);
  const outputs: Uint8Array[] = [];
  try {
    for (const workers of [1, 3]) {
      const pool = new DeflatePool(workers);
      const parts: Uint8Array[] = [];
      try {
        const s = await gzipRange(pool, input, 0, data.length, (p) => {
          parts.push(p.slice());
          return Promise.resolve();
        }, { blockSize: 256 * 1024 });
        const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          out.set(p, at);
          at += p.length;
        }
        outputs.push(out);
        assert.equal(s.compressedSize, out.length);
        assert.equal(s.uncompressedSize, data.length);
        assert.equal(
          s.uncompressedDigest,
          "sha256:" + createHash("sha256").update(data).digest("hex"),
        );
        assert.equal(
          s.compressedDigest,
          "sha256:" + createHash("sha256").update(out).digest("hex"),
        );
        assert.deepEqual(new Uint8Array(zlib.gunzipSync(out)), data);
      } finally {
        pool.close();
      }
    }
    assert.deepEqual(outputs[0], outputs[1], "deterministic regardless of parallelism");
    // A range of the file, and an empty range.
    const pool = new DeflatePool(2);
    try {
      const parts: Uint8Array[] = [];
      await gzipRange(pool, input, 1000, 5000, (p) => Promise.resolve(void parts.push(p.slice())));
      assert.deepEqual(
        new Uint8Array(zlib.gunzipSync(Buffer.concat(parts))),
        data.subarray(1000, 6000),
      );
      const empty: Uint8Array[] = [];
      await gzipRange(pool, input, 0, 0, (p) => Promise.resolve(void empty.push(p.slice())));
      assert.equal(zlib.gunzipSync(Buffer.concat(empty)).length, 0);
    } finally {
      pool.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("image store_fs: verification records are checked by stat", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/f`;
    const id = "sha256:" + "c".repeat(64);
    assert.equal(await checkVerified(path, id), "missing");
    await Deno.writeTextFile(path, "hello");
    assert.equal(await checkVerified(path, id), "changed", "no record yet");
    await recordVerified(path, id);
    assert.equal(await checkVerified(path, id, 5), "valid");
    assert.equal(await checkVerified(path, "sha256:" + "d".repeat(64)), "changed");
    assert.equal(await checkVerified(path, id, 6), "changed");
    await Deno.utime(path, new Date(), new Date(Date.now() + 5000));
    assert.equal(await checkVerified(path, id), "changed", "mtime moved");
    await recordVerified(path, id);
    const f = await Deno.open(path, { write: true });
    await f.write(new TextEncoder().encode("J"));
    f.close();
    const st = await Deno.stat(path);
    // Same size; content changed; the write moved mtime (allow coarse clocks by forcing it).
    await Deno.utime(path, st.atime ?? new Date(), new Date((st.mtime?.getTime() ?? 0) + 1000));
    assert.equal(await checkVerified(path, id), "changed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("image singleflight: callers share work; only the last to leave aborts it", async () => {
  const flights = new SingleFlight<number, number>();
  let release!: () => void;
  let aborted = false;
  let cleaned = false;
  const work = async ({ signal, emit }: { signal: AbortSignal; emit: (p: number) => void }) => {
    emit(1);
    await new Promise<void>((r) => {
      release = r;
      if (signal.aborted) {
        aborted = true;
        return r();
      }
      signal.addEventListener("abort", () => {
        aborted = true;
        r();
      });
    });
    await new Promise((r) => setTimeout(r, 20));
    cleaned = true;
    if (signal.aborted) throw new Error("aborted");
    return 42;
  };
  const a = new AbortController();
  const b = new AbortController();
  const seenA: number[] = [];
  const pa = flights.run("k", work, { signal: a.signal, onProgress: (p) => seenA.push(p) });
  const pb = flights.run("k", work, { signal: b.signal });
  assert.equal(flights.started, 1);
  await new Promise((r) => setTimeout(r, 0));
  a.abort(new Error("a gave up"));
  await assert.rejects(pa, /a gave up/);
  assert.equal(aborted, false, "b still waits");
  release();
  assert.equal(await pb, 42);

  const c = new AbortController();
  const pc = flights.run("k2", work, { signal: c.signal });
  c.abort(new Error("c gave up"));
  await assert.rejects(pc, /c gave up/);
  assert.ok(aborted && cleaned, "the last caller returns after the work cleaned up");
  assert.equal(flights.has("k2"), false);
  assert.deepEqual(seenA, [1]);
});

Deno.test("image progress: terminal redraws, plain lines otherwise", () => {
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(17 * 1024 ** 3), "17.0 GiB");
  assert.equal(formatDuration(75), "1m15s");
  assert.equal(formatDuration(Infinity), "--");
  const plain: string[] = [];
  const v = new ProgressView({ isTerminal: false, write: (s) => plain.push(s) }, "pull");
  for (let i = 0; i <= 100; i++) {
    v.update("disk.img", i, 100, i === 100 ? "verified" : "downloading");
  }
  assert.equal(plain.length, 5, plain.join(""));
  assert.match(plain[4], /^pull disk\.img .*100%\s+verified/);
  const tty: string[] = [];
  const t = new ProgressView({ isTerminal: true, write: (s) => tty.push(s), columns: 80 }, "pull");
  t.update("disk.img", 10, 100, "downloading");
  t.update("aux.img", 100, 100, "cached");
  t.finish();
  assert.ok(tty.at(-1)!.includes("\x1b[3A"), "moves up over the three lines it drew");
  assert.match(tty.at(-1)!, /total/);
});

Deno.test("image gzip: incompressible blocks go out stored, and the stream still reads back", async () => {
  const { sampledEntropy, storedBlocks } = await import("../../src/image/push/gzip_worker.ts");
  const random = new Uint8Array(1 << 20);
  for (let i = 0; i < random.length; i += 65536) {
    crypto.getRandomValues(random.subarray(i, i + 65536));
  }
  const text = new TextEncoder().encode("kernel: usb 1-1: new device\n".repeat(40_000));
  assert.ok(sampledEntropy(random) > 7.9, "random data is taken as incompressible");
  assert.ok(sampledEntropy(text) < 6, "text is not");
  const stored = storedBlocks(random, true);
  assert.equal(stored.length, random.length + 5 * Math.ceil(random.length / 65535));
  assert.deepEqual(new Uint8Array(zlib.inflateRawSync(stored)), random);
  // Stored blocks between deflated ones, as the pool writes them, inflate as one stream.
  const path = await Deno.makeTempFile();
  try {
    const data = new Uint8Array(3 << 20);
    data.set(text.subarray(0, 1 << 20));
    data.set(random, 1 << 20);
    data.set(text.subarray(0, 1 << 20), 2 << 20);
    await Deno.writeFile(path, data);
    const pool = new DeflatePool(2);
    const pieces: Uint8Array[] = [];
    try {
      await gzipRange(pool, path, 0, data.length, (p) => {
        pieces.push(p.slice());
        return Promise.resolve();
      });
    } finally {
      pool.close();
    }
    const gz = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of pieces) gz.set(p, (at += p.length) - p.length);
    assert.deepEqual(new Uint8Array(zlib.gunzipSync(gz)), data);
    assert.ok(gz.length < random.length + 200_000, `compressed to ${gz.length} bytes`);
  } finally {
    await Deno.remove(path);
  }
});
