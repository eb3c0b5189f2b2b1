// SPDY/3.1 framing and header blocks: every frame type round-trips, frames split anywhere
// across reads come out whole, malformed frames are refused, and header blocks (de)compress
// with the specification's dictionary across a shared zlib context.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import {
  encodeFrame,
  type Frame,
  FrameReader,
  SpdyProtocolError,
} from "../../src/server/streaming/spdy/frames.ts";
import {
  decodeHeaderBlock,
  encodeHeaderBlock,
  HeaderCompressor,
  HeaderDecompressor,
  SPDY3_DICTIONARY,
} from "../../src/server/streaming/spdy/header_block.ts";

const frames: Frame[] = [
  { type: "data", streamId: 5, fin: false, data: new Uint8Array([1, 2, 3]) },
  { type: "data", streamId: 0x7ffffffd, fin: true, data: new Uint8Array(0) },
  {
    type: "syn_stream",
    streamId: 3,
    associatedId: 1,
    priority: 7,
    fin: true,
    unidirectional: true,
    headerBlock: new Uint8Array([9, 9]),
  },
  { type: "syn_reply", streamId: 2, fin: true, headerBlock: new Uint8Array([1]) },
  { type: "rst_stream", streamId: 7, status: 5 },
  {
    type: "settings",
    clear: true,
    entries: [{ id: 7, flags: 1, value: 1 << 20 }, { id: 4, flags: 0, value: 100 }],
  },
  { type: "ping", id: 0xfffffffe },
  { type: "goaway", lastGoodStreamId: 9, status: 1 },
  { type: "headers", streamId: 11, fin: false, headerBlock: new Uint8Array([4, 5]) },
  { type: "window_update", streamId: 0, delta: 0x7fffffff },
];

Deno.test("spdy frames: every type round-trips through encode and the reader", () => {
  for (const frame of frames) {
    const reader = new FrameReader();
    reader.push(encodeFrame(frame));
    assert.deepEqual(reader.next(), frame);
    assert.equal(reader.next(), undefined);
    assert.equal(reader.buffered, 0);
  }
});

Deno.test("spdy frames: byte-at-a-time and many-per-chunk input give the same frames", () => {
  const all = new Uint8Array(frames.flatMap((f) => [...encodeFrame(f)]));
  const slow = new FrameReader();
  const out: Frame[] = [];
  for (const b of all) {
    slow.push(new Uint8Array([b]));
    for (let f = slow.next(); f; f = slow.next()) out.push(f);
  }
  assert.deepEqual(out, frames);
  const fast = new FrameReader();
  fast.push(all);
  const out2: Frame[] = [];
  for (let f = fast.next(); f; f = fast.next()) out2.push(f);
  assert.deepEqual(out2, frames);
});

Deno.test("spdy frames: the wire format matches the specification", () => {
  // SYN_REPLY for stream 1: control bit, version 3, type 2, length 4 + block.
  const bytes = encodeFrame({
    type: "syn_reply",
    streamId: 1,
    fin: true,
    headerBlock: new Uint8Array([0xaa]),
  });
  assert.deepEqual([...bytes], [0x80, 0x03, 0x00, 0x02, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 1, 0xaa]);
  const data = encodeFrame({ type: "data", streamId: 3, fin: true, data: new Uint8Array([7]) });
  assert.deepEqual([...data], [0, 0, 0, 3, 0x01, 0, 0, 1, 7]);
});

Deno.test("spdy frames: malformed frames are protocol errors, unknown types are skipped", () => {
  const wrongVersion = encodeFrame({ type: "ping", id: 1 });
  wrongVersion[1] = 2;
  const r1 = new FrameReader();
  r1.push(wrongVersion);
  assert.throws(() => r1.next(), SpdyProtocolError);

  const shortPing = new Uint8Array([0x80, 3, 0, 6, 0, 0, 0, 2, 0, 0]);
  const r2 = new FrameReader();
  r2.push(shortPing);
  assert.throws(() => r2.next(), /length 2, not 4/);

  const synForStream0 = encodeFrame({
    type: "syn_reply",
    streamId: 1,
    fin: false,
    headerBlock: new Uint8Array(),
  });
  synForStream0.fill(0, 8, 12);
  const r3 = new FrameReader();
  r3.push(synForStream0);
  assert.throws(() => r3.next(), /stream 0/);

  const huge = new FrameReader(1024);
  huge.push(new Uint8Array([0x80, 3, 0, 1, 0, 0x10, 0, 0]));
  assert.throws(() => huge.next(), /exceeds the limit/);

  const unknown = new FrameReader();
  unknown.push(new Uint8Array([0x80, 3, 0, 0x0a, 0, 0, 0, 2, 1, 2]));
  unknown.push(encodeFrame({ type: "ping", id: 3 }));
  assert.deepEqual(unknown.next(), { type: "unknown", frameType: 10 });
  assert.deepEqual(unknown.next(), { type: "ping", id: 3 });
});

Deno.test("spdy header blocks: the dictionary is the specification's (length and Adler-32)", () => {
  assert.equal(SPDY3_DICTIONARY.byteLength, 1423);
  let a = 1, b = 0;
  for (const c of SPDY3_DICTIONARY) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  assert.equal(((b << 16) | a) >>> 0, 0xe3c6a7c2);
});

Deno.test("spdy header blocks: encoding, multiple values, and refusal of bad blocks", () => {
  const block = encodeHeaderBlock({ StreamType: "error", port: ["80", "443"] });
  assert.deepEqual(decodeHeaderBlock(block), { streamtype: ["error"], port: ["80", "443"] });
  assert.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 1)), /truncated/);
  const upper = encodeHeaderBlock({ a: "1" });
  upper[8] = "A".charCodeAt(0);
  assert.throws(() => decodeHeaderBlock(upper), /lower case/);
});

/** Two consecutive blocks of one zlib stream made with the SPDY dictionary (as Go's framer
 *  does: FDICT set, dictionary Adler-32 e3c6a7c2, best compression, sync flushes). */
const PEER_BLOCKS = [
  "78f9e3c6a7c202256f2c850917c215e0545852949a980b95634d054503a4d02e02e70f0b030b03060606ce2248" +
  "246782123fa301000000ffff",
  "02a5670ccda0522a91b05e00000000ffff",
].map((hex) => new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16))));

Deno.test("spdy header blocks: a peer's dictionary-primed zlib stream decodes in order", async () => {
  const d = new HeaderDecompressor();
  try {
    assert.deepEqual(await d.decompress(PEER_BLOCKS[0]), {
      "content-type": ["text/plain"],
      streamtype: ["error"],
      port: ["8080"],
      requestid: ["0"],
    });
    assert.deepEqual(await d.decompress(PEER_BLOCKS[1]), {
      streamtype: ["data"],
      port: ["8080"],
      requestid: ["0"],
    });
  } finally {
    d.close();
  }
  // The second block refers back into the first: a fresh context cannot read it alone.
  const fresh = new HeaderDecompressor();
  await assert.rejects(fresh.decompress(PEER_BLOCKS[1]), SpdyProtocolError);
  fresh.close();
});

Deno.test("spdy header blocks: our blocks share one context and any SPDY peer reads them", async () => {
  const c = new HeaderCompressor();
  const d = new HeaderDecompressor();
  try {
    const first = await c.compress({ streamtype: "stdout", requestid: "1" });
    const second = await c.compress({ streamtype: "stdout", requestid: "2" });
    assert.ok(second.byteLength < first.byteLength, `${second.byteLength} < ${first.byteLength}`);
    assert.deepEqual(await d.decompress(first), { streamtype: ["stdout"], requestid: ["1"] });
    assert.deepEqual(await d.decompress(second), { streamtype: ["stdout"], requestid: ["2"] });
    // What a peer does: one inflate with the SPDY dictionary over the concatenated blocks.
    const inflated = zlib.inflateSync(Buffer.concat([first, second]), {
      dictionary: SPDY3_DICTIONARY,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    const one = encodeHeaderBlock({ streamtype: "stdout", requestid: "1" });
    assert.deepEqual(decodeHeaderBlock(new Uint8Array(inflated.subarray(0, one.byteLength))), {
      streamtype: ["stdout"],
      requestid: ["1"],
    });
    assert.deepEqual(decodeHeaderBlock(new Uint8Array(inflated.subarray(one.byteLength))), {
      streamtype: ["stdout"],
      requestid: ["2"],
    });
  } finally {
    c.close();
    d.close();
  }
});
