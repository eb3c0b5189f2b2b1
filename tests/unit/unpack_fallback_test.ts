// Unit tests of unpackPart's stream fallback (src/image/store/unpack.ts): when node:zlib's
// native handle is not there (openInflater finds none, as under a Deno without it), a gzip
// part is inflated through node:zlib's stream API and held to the same checks as on the fast
// path: both digests, the announced size, gzip's CRC and end; holes stay holes.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { unpackPart } from "../../src/image/store/unpack.ts";
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

/** `data` in chunks of 70 000 bytes. */
function chunks(data: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.length) return c.close();
      c.enqueue(data.slice(at, at + 70_000));
      at += 70_000;
    },
  });
}

// Random, then text, then 3 MiB of zeros (a hole), as two gzip members.
const plain = new Uint8Array([
  ...randomBytes(2 * MiB),
  ...new TextEncoder().encode("a line of text\n".repeat(70_000)),
  ...new Uint8Array(3 * MiB),
]);
const half = 2 * MiB + 100_000;
const gz = new Uint8Array([
  ...zlib.gzipSync(plain.subarray(0, half)),
  ...zlib.gzipSync(plain.subarray(half)),
]);
const what = "image r: disk.img: layer f";

function partFor(blob: Uint8Array, digest: string | undefined = sha(plain)): FilePart {
  return {
    layer: { mediaType: "application/octet-stream", digest: sha(blob), size: blob.length },
    compression: "gzip",
    offset: MiB,
    size: plain.length,
    ...(digest === undefined ? {} : { digest }),
  };
}

async function unpackInto(path: string, blob: Uint8Array, part: FilePart) {
  let opened = 0;
  const noHandle = () => {
    opened++;
    return undefined;
  };
  const file = await Deno.open(path, { write: true });
  try {
    return await unpackPart(chunks(blob), file, part, { what, openInflater: noHandle });
  } finally {
    file.close();
    assert.equal(opened, 1, "the unpack asked for the native inflater and got none");
  }
}

Deno.test("unpack fallback: two gzip members land byte for byte, the zeros as a hole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-unpack-" });
  try {
    const path = `${dir}/disk.img`;
    await Deno.writeFile(path, new Uint8Array(0));
    await Deno.truncate(path, MiB + plain.length);
    const stats = await unpackInto(path, gz, partFor(gz));
    assert.equal(stats.written + stats.skipped, plain.length);
    // The zeros begin off a block boundary: all but their first partial block is skipped.
    assert.ok(stats.skipped > 3 * MiB - 65536, `zeros skipped: ${stats.skipped}`);
    const got = await Deno.readFile(path);
    assert.equal(sha(got.subarray(MiB)), sha(plain));
    // A sparse file: the hole takes no blocks (st_blocks counts 512-byte units).
    const blocks = (await Deno.stat(path)).blocks ?? 0;
    assert.ok(blocks * 512 < got.length - 2 * MiB, `${blocks} blocks for ${got.length} bytes`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unpack fallback: every check of the fast path still holds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-unpack-" });
  try {
    const path = `${dir}/disk.img`;
    await Deno.writeFile(path, new Uint8Array(MiB + plain.length));
    // The uncompressed digest, where the part has one.
    await assert.rejects(
      unpackInto(path, gz, partFor(gz, sha(new Uint8Array(plain.length)))),
      /layer f: uncompressed: digest mismatch: expected sha256:/,
    );
    // The compressed digest: the layer descriptor says other bytes.
    await assert.rejects(
      unpackInto(path, gz, { ...partFor(gz), layer: { ...partFor(gz).layer, digest: sha(plain) } }),
      /layer f: compressed: digest mismatch/,
    );
    // Without an uncompressed digest: gzip's CRC-32, its end, and the announced size.
    const badCrc = new Uint8Array(gz);
    badCrc[gz.length - 8] ^= 0x01;
    await assert.rejects(
      unpackInto(path, badCrc, partFor(badCrc, undefined)),
      /^Error: image r: disk\.img: layer f: corrupt compressed data: .*check/,
    );
    const cut = gz.subarray(0, gz.length - 8);
    await assert.rejects(
      unpackInto(path, cut, partFor(cut, undefined)),
      /^Error: image r: disk\.img: layer f: corrupt compressed data: .*end of file/,
    );
    await assert.rejects(
      unpackInto(path, gz, { ...partFor(gz, undefined), size: plain.length + 1 }),
      /layer f: uncompressed: digest mismatch: expected \d+ bytes, got \d+ bytes/,
    );
    await assert.rejects(
      unpackInto(path, gz, { ...partFor(gz, undefined), size: plain.length - 1 }),
      /layer f: more than the \d+ bytes announced/,
    );
    // And the good blob without the digest still lands.
    await unpackInto(path, gz, partFor(gz, undefined));
    assert.equal(sha((await Deno.readFile(path)).subarray(MiB)), sha(plain));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
