// Unit tests of a chunk lane (src/image/pull/chunk_lane.ts): its worker unpacks chunks
// into their place in one file, sparsely, verifying both digests; a corrupt chunk and a
// source that fails midway are named, leave the lane usable, and no buffer of its pool is
// lost (the next chunks still flow); byte streams and plain streams both feed it. A chunk
// without an uncompressed digest is still refused when gzip's CRC, its end or its size is off.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { ChunkLane } from "../../src/image/pull/chunk_lane.ts";
import type { FilePart } from "../../src/image/format/layout.ts";

const MiB = 1 << 20;

const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

function partOf(plain: Uint8Array, gz: Uint8Array, offset: number): FilePart {
  return {
    layer: { mediaType: "application/octet-stream", digest: sha(gz), size: gz.length },
    compression: "gzip",
    offset,
    size: plain.length,
    digest: sha(plain),
  };
}

/** A byte stream of `data` in reads of `step` bytes (as the registry's blob stream is). */
function byteStream(data: Uint8Array, step = 100_000, failAt?: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    type: "bytes",
    pull(c) {
      if (failAt !== undefined && at >= failAt) return c.error(new Error("connection reset"));
      if (at >= data.length) {
        c.close();
        c.byobRequest?.respond(0);
        return;
      }
      const req = c.byobRequest!;
      const view = req.view as Uint8Array;
      const n = Math.min(step, data.length - at, view.byteLength);
      view.set(data.subarray(at, at + n));
      at += n;
      req.respond(n);
    },
  });
}

/** A plain stream of `data` in chunks of `step` bytes. */
function chunkStream(data: Uint8Array, step = 70_000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.length) return c.close();
      c.enqueue(data.slice(at, at + step));
      at += step;
    },
  });
}

Deno.test("chunk lane: chunks land at their offsets, holes skipped, digests checked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-lane-" });
  const lane = new ChunkLane();
  try {
    const path = `${dir}/data`;
    // Chunk 0: random and text (several MiB of compressed input: the pool goes round);
    // chunk 1: mostly zeros (a hole in the file).
    const text = new TextEncoder().encode("build log line\n".repeat(300_000));
    const a = new Uint8Array([...randomBytes(5 * MiB), ...text]);
    const b = new Uint8Array(8 * MiB);
    b.set(randomBytes(4096), 6 * MiB);
    const gzA = zlib.gzipSync(a);
    const gzB = zlib.gzipSync(b);
    await Deno.writeFile(path, new Uint8Array(0));
    await Deno.truncate(path, a.length + b.length);
    const what = "image r: disk.img: layer x";
    const sa = await lane.unpack(byteStream(gzA), {
      path,
      part: partOf(a, gzA, 0),
      dense: false,
      what,
    });
    const sb = await lane.unpack(chunkStream(gzB), {
      path,
      part: partOf(b, gzB, a.length),
      dense: false,
      what,
    });
    assert.equal(sa.written + sa.skipped, a.length);
    assert.ok(sb.skipped >= b.length - 8192, `chunk 1 mostly skipped: ${JSON.stringify(sb)}`);
    const got = await Deno.readFile(path);
    assert.equal(sha(got.subarray(0, a.length)), sha(a));
    assert.equal(sha(got.subarray(a.length)), sha(b));
  } finally {
    lane.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chunk lane: corrupt data and a failing source are named; the lane goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-lane-" });
  const lane = new ChunkLane();
  try {
    const path = `${dir}/data`;
    const plain = randomBytes(6 * MiB);
    const gz = zlib.gzipSync(plain);
    await Deno.writeFile(path, new Uint8Array(plain.length));
    const part = partOf(plain, gz, 0);
    const what = "image r: disk.img: layer y";

    const flipped = new Uint8Array(gz); // a copy: Buffer#slice would share gz
    flipped[gz.length >> 1] ^= 0x5a;
    await assert.rejects(
      lane.unpack(byteStream(flipped), { path, part, dense: true, what }),
      (err: Error) => {
        assert.match(err.message, /^image r: disk\.img: layer y: .*(corrupt|digest mismatch)/);
        return true;
      },
    );
    await assert.rejects(
      lane.unpack(byteStream(gz, 100_000, 3 * MiB), { path, part, dense: true, what }),
      /connection reset/,
    );
    assert.equal(lane.idleBuffers, 3, "the pool is whole after both failures");
    // Still a working lane: each chunk takes the pool round twice.
    for (let i = 0; i < 2; i++) {
      const stats = await lane.unpack(byteStream(gz), { path, part, dense: true, what });
      assert.equal(stats.written, plain.length);
      assert.equal(lane.idleBuffers, 3);
    }
    assert.equal(sha(await Deno.readFile(path)), sha(plain));
  } finally {
    lane.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chunk lane: a chunk without an uncompressed digest is checked by gzip's CRC and size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-lane-" });
  const lane = new ChunkLane();
  try {
    const path = `${dir}/data`;
    const plain = new Uint8Array([...randomBytes(3 * MiB), ...new Uint8Array(2 * MiB)]);
    const gz = zlib.gzipSync(plain);
    await Deno.writeFile(path, new Uint8Array(plain.length));
    const what = "image r: disk.img: layer z";
    // Each case is a blob whose layer digest matches it (as a registry would serve what a
    // faulty writer pushed): only the inflated bytes can tell it is wrong.
    const noDigest = (blob: Uint8Array, size = plain.length): FilePart => {
      const { digest: _, ...part } = partOf(plain, blob, 0);
      return { ...part, size };
    };
    const unpack = (blob: Uint8Array, part = noDigest(blob)) =>
      lane.unpack(byteStream(blob), { path, part, dense: true, what });

    const badCrc = new Uint8Array(gz);
    badCrc[gz.length - 8] ^= 0x01; // first byte of the CRC-32 in the trailer
    await assert.rejects(unpack(badCrc), /^Error: image r: disk\.img: layer z: corrupt .*check/);
    await assert.rejects(
      unpack(gz.subarray(0, gz.length - 8)),
      /^Error: image r: disk\.img: layer z: corrupt .*end of file/,
    );
    await assert.rejects(
      unpack(gz, noDigest(gz, plain.length + 1)),
      /layer z: uncompressed: digest mismatch: expected 5242881 bytes, got 5242880 bytes/,
    );
    await assert.rejects(
      unpack(gz, noDigest(gz, plain.length - 1)),
      /layer z: more than the 5242879 bytes announced/,
    );
    // Where a chunk carries an uncompressed digest (images pushed before), it is checked.
    await assert.rejects(
      unpack(gz, { ...noDigest(gz), digest: sha(new Uint8Array(plain.length)) }),
      /layer z: uncompressed: digest mismatch: expected sha256:/,
    );
    const stats = await unpack(gz);
    assert.equal(stats.written + stats.skipped, plain.length);
    assert.equal(sha(await Deno.readFile(path)), sha(plain));
    assert.equal(lane.idleBuffers, 3);
  } finally {
    lane.close();
    await Deno.remove(dir, { recursive: true });
  }
});
