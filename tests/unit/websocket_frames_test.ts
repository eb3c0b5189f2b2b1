// The agent's own WebSocket (src/server/streaming/ws/): the word-at-a-time unmask equals the
// byte-wise one at every alignment, frames of every length form are read across any split of
// the bytes, what a server must refuse is refused, the handshake's accept key is RFC 6455's,
// and a connection puts fragments together, answers pings and echoes the close.

import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { encodeFrame, FrameReader, Opcode, unmask } from "../../src/server/streaming/ws/frames.ts";
import { WsConnection } from "../../src/server/streaming/ws/connection.ts";
import {
  acceptKey,
  handshakeProblem,
  switchingProtocols,
} from "../../src/server/streaming/ws/handshake.ts";

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

/** A client frame: masked with MASK. */
function clientFrame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const n = payload.byteLength;
  const header = n < 126 ? [n | 0x80] : n < 65536 ? [126 | 0x80, n >> 8, n & 0xff] : [
    127 | 0x80,
    ...Array.from({ length: 8 }, (_, i) => Number((BigInt(n) >> BigInt(8 * (7 - i))) & 0xffn)),
  ];
  const masked = payload.map((b, i) => b ^ MASK[i & 3]);
  return new Uint8Array([(fin ? 0x80 : 0) | opcode, ...header, ...MASK, ...masked]);
}

const bytes = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + 3) & 0xff);

Deno.test("ws unmask: the word-wise result equals the byte-wise one at every offset", () => {
  const backing = bytes(300);
  for (let offset = 0; offset < 8; offset++) {
    for (const length of [0, 1, 3, 4, 5, 17, 64, 257]) {
      const data = backing.slice().subarray(offset, offset + length);
      const expected = data.map((b, i) => b ^ MASK[i & 3]);
      unmask(data, MASK);
      assert.deepEqual(data, expected, `offset ${offset}, length ${length}`);
    }
  }
});

Deno.test("ws frames: 7-, 16- and 64-bit lengths, read across every split", () => {
  for (const size of [0, 125, 126, 65535, 65536, 70_000]) {
    const payload = bytes(size);
    const wire = clientFrame(Opcode.BINARY, payload);
    const splits = size > 1000 ? [3, 7, 1000, wire.byteLength] : [1, 2, 3, 7, 11, wire.byteLength];
    for (const split of splits) {
      const reader = new FrameReader(1 << 20);
      let frame;
      for (let at = 0; at < wire.byteLength; at += split) {
        assert.equal(frame, undefined);
        reader.push(wire.slice(at, at + split));
        frame = reader.next();
      }
      if (size === 0 && split >= wire.byteLength) frame ??= reader.next();
      assert.ok(frame, `size ${size}, split ${split}`);
      assert.equal(frame.opcode, Opcode.BINARY);
      assert.equal(frame.fin, true);
      assert.deepEqual(frame.payload, payload);
      assert.equal(reader.next(), undefined);
    }
  }
});

Deno.test("ws frames: what a server must refuse is refused", () => {
  const refuse = (wire: Uint8Array, pattern: RegExp, max = 1 << 20) => {
    const reader = new FrameReader(max);
    reader.push(wire);
    assert.throws(() => reader.next(), pattern);
  };
  const unmasked = new Uint8Array([0x82, 3, 1, 2, 3]);
  refuse(unmasked, /must be masked/);
  const rsv = clientFrame(Opcode.BINARY, bytes(3));
  rsv[0] |= 0x40;
  refuse(rsv, /reserved bits/);
  refuse(clientFrame(Opcode.PING, bytes(3), false), /fragmented control frame/);
  refuse(clientFrame(Opcode.PING, bytes(126)), /longer than 125/);
  refuse(clientFrame(0x3, bytes(1)), /unknown opcode/);
  refuse(clientFrame(Opcode.BINARY, bytes(2000)), /exceeds the limit/, 1000);
});

Deno.test("ws frames: server frames are unmasked with the right length form", () => {
  for (const size of [0, 125, 126, 65535, 65536]) {
    const frame = encodeFrame(Opcode.BINARY, new Uint8Array([9]), bytes(size));
    const header = size + 1 < 126 ? 2 : size + 1 < 65536 ? 4 : 10;
    assert.equal(frame.byteLength, header + size + 1);
    assert.equal(frame[0], 0x82);
    assert.equal(frame[1] & 0x80, 0, "not masked");
    assert.equal(frame[header], 9);
    assert.deepEqual(frame.subarray(header + 1), bytes(size));
  }
});

Deno.test("ws handshake: RFC 6455's accept key; bad requests are named", () => {
  assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const ok = {
    upgrade: "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  assert.equal(handshakeProblem("GET", ok), undefined);
  assert.match(handshakeProblem("POST", ok)!, /GET/);
  assert.match(handshakeProblem("GET", { ...ok, "sec-websocket-version": "8" })!, /version 13/);
  assert.match(handshakeProblem("GET", { ...ok, "sec-websocket-key": "short" })!, /16 bytes/);
  const response = switchingProtocols(ok, "SPDY/3.1+portforward.k8s.io");
  assert.match(response, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(response, /\r\nSec-WebSocket-Protocol: SPDY\/3\.1\+portforward\.k8s\.io\r\n\r\n$/);
  assert.doesNotMatch(switchingProtocols(ok, ""), /Sec-WebSocket-Protocol/);
});

/** A connection over a fake socket: what the server wrote, and a way to feed it bytes. */
function fakeConnection() {
  const written: Uint8Array[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      written.push(new Uint8Array(chunk));
      cb();
    },
  });
  const conn = new WsConnection(socket, undefined, { closeTimeoutMs: 50 });
  const messages: { data: Uint8Array; binary: boolean }[] = [];
  conn.onMessage = (data, binary) => void messages.push({ data: data.slice(), binary });
  return { socket, conn, written, messages, feed: (b: Uint8Array) => socket.push(b) };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("ws connection: fragments become one message; pings are answered", async () => {
  const { conn, written, messages, feed } = fakeConnection();
  feed(clientFrame(Opcode.BINARY, bytes(5), false));
  feed(clientFrame(Opcode.PING, new Uint8Array([1, 2])));
  feed(clientFrame(Opcode.CONTINUATION, bytes(3), true));
  feed(clientFrame(Opcode.TEXT, new TextEncoder().encode("hi")));
  await tick();
  assert.deepEqual(messages.map((m) => [m.binary, m.data.byteLength]), [[true, 8], [false, 2]]);
  assert.deepEqual(messages[0].data, new Uint8Array([...bytes(5), ...bytes(3)]));
  assert.deepEqual(written[0], encodeFrame(Opcode.PONG, new Uint8Array([1, 2])));
  await conn.send(true, new Uint8Array([1]), new Uint8Array([2, 3]));
  assert.deepEqual(written[1], new Uint8Array([0x82, 3, 1, 2, 3]));
  conn.terminate();
  await conn.closed;
});

Deno.test("ws connection: the peer's close is echoed and ends the connection", async () => {
  const { conn, written, feed } = fakeConnection();
  feed(clientFrame(Opcode.CLOSE, new Uint8Array([0x03, 0xe9])));
  await conn.closed;
  assert.deepEqual(written[0], new Uint8Array([0x88, 2, 0x03, 0xe9]));
  assert.equal(conn.open, false);
  await assert.rejects(conn.send(true, new Uint8Array([1])), /closed/);
});

Deno.test("ws connection: a protocol error closes with 1002", async () => {
  const { conn, written, feed } = fakeConnection();
  feed(new Uint8Array([0x82, 1, 7])); // unmasked
  await conn.closed;
  assert.equal(written[0][0], 0x88);
  assert.equal((written[0][2] << 8) | written[0][3], 1002);
});
