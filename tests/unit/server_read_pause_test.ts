// pauseReading really holds a TLS peer back (under Deno 2.9, node:tls's own pause() does not:
// the TLS layer keeps reading and buffering), on accepted and on connected sockets, and
// resumeReading delivers every byte afterwards.

import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { createPki } from "../harness/pki.ts";
import { pauseReading, rawHandle, resumeReading } from "../../src/server/streaming/read_pause.ts";

const TOTAL = 64 * 1024 * 1024;

function flood(writer: net.Socket): () => number {
  let written = 0;
  const chunk = new Uint8Array(64 * 1024);
  const pump = () => {
    while (written < TOTAL) {
      written += chunk.length;
      if (!writer.write(chunk)) return void writer.once("drain", pump);
    }
    writer.end();
  };
  pump();
  return () => written;
}

async function holdBack(reader: net.Socket, written: () => number): Promise<void> {
  assert.ok(rawHandle(reader), "Deno's TLS socket exposes its TCP handle");
  let got = 0;
  let holding = true;
  const done = new Promise<void>((resolve) => reader.on("end", () => resolve()));
  reader.on("data", (d: Uint8Array) => {
    got += d.byteLength;
    if (holding && got > 1024 * 1024 && !reader.isPaused()) pauseReading(reader);
  });
  await new Promise((r) => setTimeout(r, 700));
  assert.ok(written() < 24 * 1024 * 1024, `the writer was held back (wrote ${written()} bytes)`);
  holding = false;
  resumeReading(reader);
  await done;
  assert.equal(got, TOTAL, "every byte arrives after resuming");
}

Deno.test("read pause: TLS peers are held back and nothing is lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-read-pause-" });
  try {
    const pki = await createPki(dir);
    const node = await pki.issueNode("pause-node");
    const server = tls.createServer({
      cert: await Deno.readTextFile(node.servingCert),
      key: await Deno.readTextFile(node.servingKey),
    });
    const accepted: tls.TLSSocket[] = [];
    let onAccept: ((s: tls.TLSSocket) => void) | undefined;
    server.on("secureConnection", (s: tls.TLSSocket) => onAccept ? onAccept(s) : accepted.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const connect = async () => {
      const gotServerSide = new Promise<tls.TLSSocket>((r) => (onAccept = r));
      const client = tls.connect({
        host: "127.0.0.1",
        port,
        ca: await Deno.readTextFile(pki.caCert),
      });
      await new Promise((r) => client.once("secureConnect", r));
      return { client, serverSide: await gotServerSide };
    };

    // The client floods; the server side (an accepted socket) pauses.
    const a = await connect();
    await holdBack(a.serverSide, flood(a.client));
    a.client.destroy();

    // The server floods; the client side (a connected socket) pauses.
    const b = await connect();
    await holdBack(b.client, flood(b.serverSide));
    b.client.destroy();
    server.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
