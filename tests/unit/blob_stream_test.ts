// The registry blob stream as a byte stream, against a local HTTP server that misbehaves
// in ways real registries and proxies do: a body cut off mid-way, then a retry whose
// Range header is ignored (the whole blob comes again from byte 0). BYOB readers (the
// unpacker's) and default readers must both see the blob exactly once, byte for byte.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { blobStream, type BlobStreamStats } from "../../src/image/registry/blob_stream.ts";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";

const SIZE = 3 * (1 << 20) + 12_345;

function blob(): Uint8Array {
  const bytes = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) bytes[i] = (i * 7 + (i >> 11)) & 0xff;
  return bytes;
}

/** Serves `bytes`: the first answer stops after `cutAt` bytes; Range headers are ignored. */
function misbehavingRegistry(bytes: Uint8Array, cutAt: number) {
  const ranges: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname === "/v2/") return new Response("{}");
    ranges.push(req.headers.get("range"));
    const cut = ranges.length === 1;
    const end = cut ? cutAt : bytes.length;
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (at >= end) {
          // Let the bytes sent so far reach the client before the connection breaks.
          if (cut) await new Promise((r) => setTimeout(r, 100));
          return cut ? controller.error(new Error("connection cut")) : controller.close();
        }
        controller.enqueue(bytes.slice(at, Math.min(end, at + 100_000)));
        at += 100_000;
      },
    });
    return new Response(body, { headers: { "content-length": String(bytes.length) } });
  });
  return { server, ranges, host: `127.0.0.1:${server.addr.port}` };
}

async function readByob(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader({ mode: "byob" });
  const out = new Uint8Array(SIZE + 1);
  let fill = 0;
  let buf = new Uint8Array(1 << 20);
  for (;;) {
    const { done, value } = await reader.read(buf);
    if (done || !value) break;
    out.set(value, fill);
    fill += value.byteLength;
    buf = new Uint8Array(value.buffer);
  }
  return out.subarray(0, fill);
}

async function readChunks(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

for (const [name, read] of [["BYOB reader", readByob], ["default reader", readChunks]] as const) {
  Deno.test(`blob stream (${name}): a cut body resumes; an ignored Range is skipped`, async () => {
    const bytes = blob();
    const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");
    const registry = misbehavingRegistry(bytes, 1_234_567);
    const client = new RegistryClient({ retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } });
    try {
      const stats: BlobStreamStats = { requests: 0, rangeRequests: 0 };
      const ref = parseReference(`${registry.host}/test/blob:latest`);
      const stream = blobStream(client, ref, { mediaType: "x", digest, size: SIZE }, {}, stats);
      const got = await read(stream);
      assert.equal(got.byteLength, SIZE);
      assert.ok(got.every((b, i) => b === bytes[i]), "bytes differ from the blob");
      assert.equal(stats.requests, 2);
      assert.equal(stats.rangeRequests, 1);
      assert.match(registry.ranges[1] ?? "", /^bytes=\d+-/, "the retry asked for a range");
    } finally {
      client.close();
      await registry.server.shutdown();
    }
  });
}
