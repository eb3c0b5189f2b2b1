// Connections to the kubelet port cannot be held open for nothing: a client that never finishes
// the TLS handshake, one that dribbles a request header (slowloris), and a kept-alive connection
// left idle are each closed after their timeout, and counted in /metrics; a slow but complete
// request, and a streaming session longer than every one of those timeouts, are not cut.

import "reflect-metadata";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { createPki } from "../harness/pki.ts";
import { ScriptedRuntime } from "../support/scripted_runtime.ts";
import { readIdentity } from "../support/spdy_client.ts";
import { pod, serveDirect, spdyExec } from "../support/direct_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the ms until `socket` closed, or undefined if it was still open at `limitMs`. */
function closedWithin(socket: net.Socket, limitMs: number): Promise<number | undefined> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), limitMs);
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

Deno.test({
  name: "kubelet port: handshake, request-header and idle timeouts close connections",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "vzk-conn-timeouts-" });
    const pki = await createPki(`${dir}/pki`);
    const node = await pki.issueNode("direct-node");
    const id = await readIdentity({
      ca: pki.caCert,
      cert: pki.kubeletClient.cert,
      key: pki.kubeletClient.key,
    });
    const runtime = new ScriptedRuntime({ startDelayMs: 0 });
    const pods = new Map([["default/p1", pod("p1")]]);
    await runtime.createPod(pods.get("default/p1")!);
    const server = await serveDirect(
      {
        certPath: node.servingCert,
        keyPath: node.servingKey,
        caPath: pki.caCert,
        connectionTimeouts: { handshakeMs: 1_000, requestHeaderMs: 1_000, idleMs: 1_500 },
      },
      runtime,
      pods,
    );
    const connect = (onReady: (s: tls.TLSSocket) => void) => {
      const s = tls.connect(
        { host: "127.0.0.1", port: server.port, ca: id.ca, cert: id.cert, key: id.key },
        () => onReady(s),
      );
      return s;
    };
    try {
      await t.step("a TCP connection that never starts TLS is closed", async () => {
        const raw = net.connect(server.port, "127.0.0.1");
        const after = await closedWithin(raw, 10_000);
        assert.ok(after !== undefined, "still open 10 s after connecting (timeout 1 s)");
        assert.ok(after >= 800, `closed after ${after} ms: before the timeout`);
      });

      await t.step("a request header dribbled byte by byte past the deadline is cut", async () => {
        let answered = "";
        const slow = connect((s) => {
          const header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
          let i = 0;
          const drip = setInterval(() => {
            if (s.destroyed || i >= header.length) return clearInterval(drip);
            s.write(header[i++]);
          }, 200);
        });
        slow.on("data", (d: Uint8Array) => answered += new TextDecoder().decode(d));
        const after = await closedWithin(slow, 10_000);
        assert.ok(after !== undefined, "a slowloris client still held the connection at 10 s");
        assert.equal(answered, "", "the dribbled request was answered");
      });

      await t.step(
        "a complete request sent in two parts within the deadline is served",
        async () => {
          let answered = "";
          const s = connect(async (s) => {
            s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
            await sleep(300);
            s.write("Connection: keep-alive\r\n\r\n");
          });
          s.on("data", (d: Uint8Array) => answered += new TextDecoder().decode(d));
          const after = await closedWithin(s, 10_000);
          assert.match(answered, /^HTTP\/1\.1 200/);
          assert.match(answered, /\r\n\r\nok$/);
          // Kept alive after the answer, then closed for idleness, not for its header.
          assert.ok(after !== undefined, "an idle kept-alive connection was still open at 10 s");
          assert.ok(after >= 1_500, `closed after ${after} ms, before the idle timeout`);
        },
      );

      await t.step("a stream longer than every timeout is not cut", async () => {
        const out = await spdyExec(server.port, id, "v4.channel.k8s.io", [
          "sh",
          "-c",
          "sleep 4; echo done",
        ]);
        assert.equal(out.stdout, "done\n");
      });

      await t.step("timeouts are counted in /metrics", async () => {
        const client = Deno.createHttpClient({ caCerts: [id.ca], cert: id.cert!, key: id.key! });
        const text = await fetch(`https://127.0.0.1:${server.port}/metrics`, { client })
          .then((r) => r.text());
        client.close();
        const count = (phase: string) =>
          Number(
            text.match(
              new RegExp(`vzk_kubelet_api_connection_timeouts_total\\{phase="${phase}"\\} (\\d+)`),
            )?.[1] ?? 0,
          );
        assert.ok(count("tls-handshake") >= 1, "handshake timeouts not counted");
        assert.ok(count("request-header") >= 1, "header timeouts not counted");
      });
    } finally {
      await server.stop();
      await runtime.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
