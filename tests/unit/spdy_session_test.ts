// SPDY/3.1 sessions end to end over a loopback TCP connection (our client and server
// sessions): stream lifecycle, PING, RST_STREAM, GOAWAY, flow control with a compliant peer
// and with a peer that ignores windows (as Go's spdystream does), the idle timeout, protocol
// errors, and many concurrent streams.

import assert from "node:assert/strict";
import net from "node:net";
import { SpdySession, type SpdySessionOptions } from "../../src/server/streaming/spdy/session.ts";
import type { SpdyStream } from "../../src/server/streaming/spdy/stream.ts";
import { readAll } from "../support/spdy_client.ts";
import { type Frame, FrameReader, RstStatus } from "../../src/server/streaming/spdy/frames.ts";

interface Pair {
  client: SpdySession;
  server: SpdySession;
  serverStreams: SpdyStream[];
  nextServerStream(): Promise<SpdyStream>;
  sockets: net.Socket[];
  close(): Promise<void>;
}

async function pair(
  serverOpts: Partial<SpdySessionOptions> = {},
  clientOpts: Partial<SpdySessionOptions> = {},
  autoReply = true,
): Promise<Pair> {
  const sockets: net.Socket[] = [];
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once("connection", r));
  const clientSocket = net.connect(port, "127.0.0.1");
  await new Promise((r) => clientSocket.once("connect", r));
  const serverSocket = await accepted;
  listener.close();
  sockets.push(clientSocket, serverSocket);
  const serverStreams: SpdyStream[] = [];
  let waiting: ((s: SpdyStream) => void) | undefined;
  const server = new SpdySession(serverSocket, {
    server: true,
    onStream(s) {
      if (autoReply) void s.reply();
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(s);
      } else serverStreams.push(s);
    },
    ...serverOpts,
  });
  const client = new SpdySession(clientSocket, { server: false, ...clientOpts });
  return {
    client,
    server,
    serverStreams,
    sockets,
    nextServerStream: () => {
      const s = serverStreams.shift();
      return s ? Promise.resolve(s) : new Promise((r) => (waiting = r));
    },
    async close() {
      client.destroy();
      server.destroy();
      await Promise.all([client.closed, server.closed]);
    },
  };
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 11)) & 0xff;
  return out;
}

Deno.test("spdy session: a stream carries headers and data both ways and closes on two FINs", async () => {
  const p = await pair();
  try {
    const c = await p.client.openStream({ streamtype: "stdin", port: ["1", "2"] });
    const s = await p.nextServerStream();
    assert.equal(s.header("streamtype"), "stdin");
    assert.deepEqual(s.headers.port, ["1", "2"]);
    assert.equal(c.id % 2, 1, "client streams are odd");

    const w = c.writable.getWriter();
    await w.write(bytes("hello "));
    await w.write(bytes("server"));
    await w.close();
    assert.equal(text(await readAll(s.readable)), "hello server");

    const sw = s.writable.getWriter();
    await sw.write(bytes("hi client"));
    await sw.close();
    assert.equal(text(await readAll(c.readable)), "hi client");
    await Promise.all([c.closed, s.closed]);
    assert.equal(p.client.streamCount, 0);
    assert.equal(p.server.streamCount, 0);
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: PING is answered; RST_STREAM fails the other side; GOAWAY stops new streams", async () => {
  const p = await pair();
  try {
    const rtt = await p.client.ping();
    assert.ok(rtt >= 0 && rtt < 5_000);
    assert.ok((await p.server.ping()) >= 0);

    const c = await p.client.openStream({ streamtype: "data" });
    const s = await p.nextServerStream();
    s.reset(RstStatus.CANCEL);
    await assert.rejects(readAll(c.readable), /reset by the peer \(status 5\)/);
    await c.closed;

    const kept = await p.client.openStream({ streamtype: "kept" });
    const keptServer = await p.nextServerStream();
    p.server.goAway();
    await sleep(50);
    await assert.rejects(p.client.openStream({ streamtype: "late" }), /going away/);
    // Streams opened before GOAWAY carry on.
    const w = kept.writable.getWriter();
    await w.write(bytes("still here"));
    await w.close();
    assert.equal(text(await readAll(keptServer.readable)), "still here");
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: with a flow-controlling peer, a slow reader holds the writer at the window", async () => {
  // The client announces a 128 KiB stream window (SETTINGS); the server must keep to it.
  const p = await pair({ peerFlowControl: "on" }, { receiveWindow: 128 * 1024 });
  try {
    const c = await p.client.openStream({ streamtype: "stdout" });
    const s = await p.nextServerStream();
    const payload = pattern(2 * 1024 * 1024);
    let written = false;
    const writing = (async () => {
      const w = s.writable.getWriter();
      await w.write(payload);
      await w.close();
      written = true;
    })();
    await sleep(300);
    assert.equal(written, false, "the writer must wait for window updates");
    // Nothing beyond the announced window was sent: it all sits unread at the client.
    assert.ok(c.buffered <= 128 * 1024, `client holds ${c.buffered} bytes`);
    assert.ok(c.buffered > 65_536, `the window was the announced one, not 64 KiB`);
    assert.ok(c.buffered > 0);
    const got = await readAll(c.readable);
    await writing;
    assert.equal(got.byteLength, payload.byteLength);
    assert.deepEqual(got, payload);
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: receive windows are announced, and updated once per half window", async () => {
  const p = await pair();
  try {
    const frames: Frame[] = [];
    const reader = new FrameReader();
    p.sockets[0].on("data", (d: Uint8Array) => {
      reader.push(d);
      for (let f = reader.next(); f; f = reader.next()) frames.push(f);
    });
    const c = await p.client.openStream({ streamtype: "stdin" });
    const s = await p.nextServerStream();
    const payload = pattern(4 * 1024 * 1024);
    const w = c.writable.getWriter();
    const [, got] = await Promise.all([
      w.write(payload).then(() => w.close()),
      readAll(s.readable),
    ]);
    assert.equal(got.byteLength, payload.byteLength);
    await sleep(50);
    const settings = frames.find((f) => f.type === "settings");
    assert.deepEqual(
      settings?.type === "settings" ? settings.entries : undefined,
      [{ id: 7, flags: 0, value: 256 * 1024 }],
      "SETTINGS_INITIAL_WINDOW_SIZE of 256 KiB",
    );
    const updates = frames.filter((f) => f.type === "window_update");
    const session = updates.filter((f) => f.type === "window_update" && f.streamId === 0);
    const stream = updates.filter((f) => f.type === "window_update" && f.streamId !== 0);
    assert.equal(
      session[0]?.type === "window_update" ? session[0].delta : 0,
      8 * 1024 * 1024 - 65_536,
      "the session window is raised to 8 MiB at once",
    );
    assert.ok(session.length <= 2, `${session.length} session updates for 4 MiB`);
    // One update per 128 KiB read: at most 32 for 4 MiB, fewer when the FIN arrives before the
    // last reads (a closed stream needs no window). At SPDY's 64 KiB default it would be 128.
    assert.ok(stream.length >= 24 && stream.length <= 32, `${stream.length} stream updates`);
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: a peer ignoring windows is held back by TCP; our memory stays bounded", async () => {
  // The client plays Go's spdystream: it never waits for window updates.
  const p = await pair({ maxBufferedInbound: 256 * 1024 }, { peerFlowControl: "off" });
  try {
    const c = await p.client.openStream({ streamtype: "stdin" });
    const s = await p.nextServerStream();
    const payload = pattern(32 * 1024 * 1024);
    let written = false;
    const writing = (async () => {
      const w = c.writable.getWriter();
      await w.write(payload);
      await w.close();
      written = true;
    })();
    await sleep(500);
    assert.equal(written, false, "TCP backpressure must stop the sender");
    // Unread data at the server is bounded by maxBufferedInbound plus one frame.
    assert.ok(s.buffered <= 256 * 1024 + 32 * 1024, `server holds ${s.buffered} bytes`);
    const got = await readAll(s.readable);
    await writing;
    assert.deepEqual(got, payload);
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: a strict receiver resets a stream whose sender overruns the window", async () => {
  const p = await pair({ strictReceiveWindow: true, receiveWindow: 65_536 }, {
    peerFlowControl: "off",
  });
  try {
    const c = await p.client.openStream({ streamtype: "stdin" });
    const s = await p.nextServerStream();
    const w = c.writable.getWriter();
    await w.write(pattern(200 * 1024)).catch(() => {});
    await assert.rejects(readAll(s.readable), /status 7/);
    await c.closed;
    assert.equal(c.failure?.status, RstStatus.FLOW_CONTROL_ERROR);
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: the idle timeout closes a quiet session, traffic keeps it open", async () => {
  const p = await pair({ idleTimeoutMs: 300 });
  try {
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      await p.client.ping();
    }
    let closed = false;
    void p.server.closed.then(() => (closed = true));
    assert.equal(closed, false, "pings count as traffic");
    await sleep(600);
    assert.equal(closed, true, "closed after 300 ms without frames");
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: garbage on the wire ends the session with GOAWAY", async () => {
  const p = await pair();
  try {
    const reader = new FrameReader();
    p.sockets[0].on("data", (d: Uint8Array) => reader.push(d));
    p.sockets[0].write(new Uint8Array([0x80, 0x02, 0, 1, 0, 0, 0, 0]));
    await p.server.closed;
    await sleep(50);
    const frames: Frame[] = [];
    for (let f = reader.next(); f; f = reader.next()) frames.push(f);
    // After the window announcements: GOAWAY with status PROTOCOL_ERROR (1), and nothing else.
    assert.deepEqual(frames.map((f) => f.type), ["settings", "window_update", "goaway"]);
    assert.deepEqual(frames[2], { type: "goaway", lastGoodStreamId: 0, status: 1 });
  } finally {
    await p.close();
  }
});

Deno.test("spdy session: 60 concurrent streams each echo their own data", async () => {
  const p = await pair();
  try {
    const echo = (async () => {
      for (let i = 0; i < 60; i++) {
        const s = await p.nextServerStream();
        void s.readable.pipeTo(s.writable);
      }
    })();
    await Promise.all(Array.from({ length: 60 }, async (_, i) => {
      const c = await p.client.openStream({ streamtype: "data", requestid: String(i) });
      const payload = pattern(50_000 + i * 997);
      const w = c.writable.getWriter();
      const reading = readAll(c.readable);
      await w.write(payload);
      await w.close();
      assert.deepEqual(await reading, payload);
    }));
    await echo;
  } finally {
    await p.close();
  }
});
