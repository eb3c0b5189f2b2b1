// The kubelet API server on its own (no cluster: a test PKI, a fake TokenReview/SAR, the
// scripted runtime), called directly the way other clients may: SPDY with every protocol
// generation and its refusals, the stream-creation timeout, a slow reader holding a command
// back, dozens of concurrent sessions, the WebSocket channel protocols for exec and
// port-forward, 404s on upgrade, certificate rotation, and --no-verify-clients.

import "reflect-metadata";
import assert from "node:assert/strict";
import tls from "node:tls";
// @deno-types="@types/ws"
import { WebSocket } from "ws";
import { createPki } from "../harness/pki.ts";
import { freePort } from "../harness/ports.ts";
import { pod, serveDirect as serve, spdyExec } from "../support/direct_server.ts";
import { ScriptedRuntime } from "../support/scripted_runtime.ts";
import { readAll, readIdentity, spdyUpgrade, type TlsIdentity } from "../support/spdy_client.ts";
import { eventually } from "../support/world.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function wsConnect(port: number, path: string, id: TlsIdentity, protocols: string[]) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, protocols, {
    ca: id.ca,
    cert: id.cert,
    key: id.key,
  });
  const messages: { data: Uint8Array; binary: boolean }[] = [];
  let notify: (() => void) | undefined;
  ws.on("message", (data: Buffer, binary: boolean) => {
    messages.push({ data: new Uint8Array(data), binary });
    notify?.();
  });
  const closed = new Promise<void>((r) => ws.once("close", () => r()));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { ws, messages, closed, opened };
}

Deno.test({
  name: "kubelet API server, called directly: SPDY, WebSocket, timeouts, rotation",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "vzk-server-direct-" });
    const pki = await createPki(`${dir}/pki`);
    const node = await pki.issueNode("direct-node");
    const certPath = `${dir}/serving.crt`;
    const keyPath = `${dir}/serving.key`;
    await Deno.copyFile(node.servingCert, certPath);
    await Deno.copyFile(node.servingKey, keyPath);
    const echoPort = freePort();
    const echo = Deno.listen({ hostname: "127.0.0.1", port: echoPort });
    void (async () => {
      for await (const c of echo) void c.readable.pipeTo(c.writable).catch(() => {});
    })();
    const runtime = new ScriptedRuntime({ startDelayMs: 0, portMap: { 9000: echoPort } });
    const pods = new Map([["default/p1", pod("p1")]]);
    await runtime.createPod(pods.get("default/p1")!);
    await sleep(20);
    const server = await serve({ certPath, keyPath, caPath: pki.caCert }, runtime, pods);
    const id = await readIdentity({
      ca: pki.caCert,
      cert: pki.kubeletClient.cert,
      key: pki.kubeletClient.key,
    });
    try {
      await t.step(
        "SPDY: the caller's preferred protocol wins; others are refused clearly",
        async () => {
          const v4 = await spdyUpgrade(
            server.port,
            "/exec/default/p1/vm?command=true&output=1",
            id,
            [
              "v4.channel.k8s.io",
              "v3.channel.k8s.io",
            ],
          );
          assert.ok(v4.ok && v4.protocol === "v4.channel.k8s.io");
          if (v4.ok) v4.session.destroy();
          const refused = await spdyUpgrade(
            server.port,
            "/exec/default/p1/vm?command=true&output=1",
            id,
            [
              "v9.channel.k8s.io",
            ],
          );
          assert.ok(!refused.ok && refused.status === 403);
          if (!refused.ok) {
            assert.match(
              refused.headers["x-accepted-stream-protocol-versions"],
              /v4\.channel\.k8s\.io/,
            );
            assert.match(refused.body, /unable to negotiate protocol/);
          }
          const none = await spdyUpgrade(
            server.port,
            "/exec/default/p1/vm?command=true&output=1",
            id,
            [],
          );
          assert.ok(!none.ok && none.status === 400);
          const missing = await spdyUpgrade(
            server.port,
            "/exec/default/nope/vm?command=true&output=1",
            id,
            [
              "v4.channel.k8s.io",
            ],
          );
          assert.ok(!missing.ok && missing.status === 404);
          if (!missing.ok) {
            const status = JSON.parse(missing.body);
            assert.deepEqual([status.reason, status.details.name], ["NotFound", "nope"]);
          }
        },
      );

      await t.step("SPDY exec: each protocol generation reports outcomes its own way", async () => {
        const v4 = await spdyExec(server.port, id, "v4.channel.k8s.io", [
          "sh",
          "-c",
          "cat; echo e >&2; exit 2",
        ], "in\n");
        assert.deepEqual([v4.stdout, v4.stderr], ["in\n", "e\n"]);
        const status = JSON.parse(v4.status);
        assert.equal(status.reason, "NonZeroExitCode");
        assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "2" }]);
        const ok = await spdyExec(server.port, id, "v4.channel.k8s.io", ["true"]);
        assert.deepEqual(JSON.parse(ok.status), { metadata: {}, status: "Success" });
        for (const p of ["v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]) {
          const failed = await spdyExec(server.port, id, p, ["sh", "-c", "echo $0; exit 2", p]);
          assert.equal(failed.stdout, `${p}\n`);
          assert.match(failed.status, /^command terminated with non-zero exit code/);
          assert.equal(
            (await spdyExec(server.port, id, p, ["true"])).status,
            "",
            "success is silent",
          );
        }
        const v5 = await spdyExec(server.port, id, "v5.channel.k8s.io", ["sh", "-c", "exit 4"]);
        assert.equal(JSON.parse(v5.status).details.causes[0].message, "4");
      });

      await t.step(
        "SPDY: streams not opened within the creation timeout end the session",
        async () => {
          const before = runtime.execs.length;
          const up = await spdyUpgrade(
            server.port,
            "/exec/default/p1/vm?command=true&output=1&input=1",
            id,
            [
              "v4.channel.k8s.io",
            ],
          );
          assert.ok(up.ok);
          if (!up.ok) return;
          await up.session.openStream({ streamtype: "error" });
          const started = Date.now();
          await up.session.closed;
          assert.ok(Date.now() - started >= 400, "closed at the 500 ms creation timeout");
          assert.equal(runtime.execs.length, before, "nothing ran");
        },
      );

      await t.step("SPDY: a slow reader holds the command back; memory stays bounded", async () => {
        const size = 64 * 1024 * 1024;
        const up = await spdyUpgrade(
          server.port,
          `/exec/default/p1/vm?command=head&command=-c&command=${size}&command=/dev/zero&output=1`,
          id,
          ["v4.channel.k8s.io"],
        );
        assert.ok(up.ok);
        if (!up.ok) return;
        const error = await up.session.openStream({ streamtype: "error" });
        const out = await up.session.openStream({ streamtype: "stdout" });
        await sleep(800);
        const call = runtime.execs.at(-1)!;
        assert.deepEqual(call.command.slice(0, 1), ["head"]);
        assert.equal(call.exitCode, undefined, "the command is still blocked on its output");
        assert.ok(out.buffered <= 1.1 * 1024 * 1024, `client holds ${out.buffered} bytes unread`);
        const got = await readAll(out.readable);
        assert.equal(got.byteLength, size);
        assert.deepEqual(JSON.parse(dec(await readAll(error.readable))).status, "Success");
        up.session.destroy();
      });

      await t.step("SPDY: 40 concurrent exec sessions each get their own output", async () => {
        const results = await Promise.all(
          Array.from(
            { length: 40 },
            (_, i) => spdyExec(server.port, id, "v4.channel.k8s.io", ["echo", `session ${i}`]),
          ),
        );
        results.forEach((r, i) => assert.equal(r.stdout, `session ${i}\n`));
        await eventually(
          "sessions closed",
          () => /kind="exec"\} 0/.test(server.metrics.render()),
          5_000,
        );
      });

      await t.step(
        "WebSocket exec: v5 with the close signal, v4 base64, channel.k8s.io",
        async () => {
          const query = "command=sh&command=-c&command=cat%3B%20exit%203&input=1&output=1&error=1";
          const v5 = wsConnect(server.port, `/exec/default/p1/vm?${query}`, id, [
            "v5.channel.k8s.io",
          ]);
          await v5.opened;
          assert.equal(v5.ws.protocol, "v5.channel.k8s.io");
          v5.ws.send(new Uint8Array([0, ...enc("via websocket\n")]));
          v5.ws.send(new Uint8Array([255, 0])); // CLOSE stdin
          await v5.closed;
          const byChannel = (ch: number) =>
            dec(
              new Uint8Array(
                v5.messages.filter((m) => m.data[0] === ch).flatMap((m) => [...m.data.subarray(1)]),
              ),
            );
          assert.equal(byChannel(1), "via websocket\n");
          assert.equal(JSON.parse(byChannel(3)).details.causes[0].message, "3");

          const b64 = wsConnect(
            server.port,
            "/exec/default/p1/vm?command=echo&command=hi&output=1",
            id,
            ["v4.base64.channel.k8s.io"],
          );
          await b64.closed;
          const texts = b64.messages.map((m) => dec(m.data));
          assert.ok(
            texts.every((m) => !/^[^0-9]/.test(m)),
            "every message starts with its channel digit",
          );
          assert.equal(
            atob(texts.filter((m) => m[0] === "1").map((m) => m.slice(1)).join("")),
            "hi\n",
          );
          assert.equal(
            JSON.parse(atob(texts.find((m) => m[0] === "3")!.slice(1))).status,
            "Success",
          );

          const v1 = wsConnect(server.port, "/exec/default/p1/vm?command=false&output=1", id, [
            "channel.k8s.io",
          ]);
          await v1.closed;
          const err = v1.messages.filter((m) => m.data[0] === 3 && m.data.length > 1);
          assert.match(dec(err[0].data.subarray(1)), /non-zero exit code/);
        },
      );

      await t.step(
        "WebSocket port-forward: the channel protocol with its port prefix",
        async () => {
          const pf = wsConnect(server.port, "/portForward/default/p1?ports=9000", id, [
            "v4.channel.k8s.io",
          ]);
          await pf.opened;
          const until = async (n: number) => {
            while (pf.messages.length < n) await new Promise<void>((r) => setTimeout(r, 10));
          };
          await until(2);
          assert.deepEqual(pf.messages.slice(0, 2).map((m) => [...m.data]), [[0, 0x28, 0x23], [
            1,
            0x28,
            0x23,
          ]]);
          pf.ws.send(new Uint8Array([0, ...enc("ping over ws")]));
          await until(3);
          assert.equal(dec(pf.messages[2].data.subarray(1)), "ping over ws");
          pf.ws.close();
          await pf.closed;
        },
      );

      await t.step(
        "certificate rotation: new connections get the new certificate, no restart",
        async () => {
          const fingerprint = () =>
            new Promise<string>((resolve, reject) => {
              const s = tls.connect({
                host: "127.0.0.1",
                port: server.port,
                ca: id.ca,
                cert: id.cert,
                key: id.key,
              }, () => {
                resolve(s.getPeerCertificate().fingerprint256);
                s.destroy();
              });
              s.once("error", reject);
            });
          const before = await fingerprint();
          const rotated = await pki.issue("rotated", {
            commonName: "direct-node",
            server: true,
            dnsNames: ["direct-node", "localhost"],
            ips: ["127.0.0.1"],
          });
          await Deno.writeTextFile(keyPath, await Deno.readTextFile(rotated.key));
          await Deno.writeTextFile(certPath, await Deno.readTextFile(rotated.cert));
          const after = await eventually(
            "new certificate served",
            async () => {
              const f = await fingerprint();
              return f !== before && f;
            },
            5_000,
            100,
          );
          assert.notEqual(after, before);
          const again = await spdyExec(server.port, id, "v4.channel.k8s.io", [
            "echo",
            "still works",
          ]);
          assert.equal(again.stdout, "still works\n");
        },
      );

      await t.step(
        "idle sessions are closed and their commands stopped (SPDY, WebSocket)",
        async () => {
          const quiet = await serve(
            { certPath, keyPath, caPath: pki.caCert, idleTimeoutMs: 300 },
            runtime,
            pods,
          );
          try {
            const started = Date.now();
            const up = await spdyUpgrade(
              quiet.port,
              "/exec/default/p1/vm?command=sleep&command=30&output=1",
              id,
              [
                "v4.channel.k8s.io",
              ],
            );
            assert.ok(up.ok);
            if (!up.ok) return;
            await up.session.openStream({ streamtype: "error" });
            await up.session.openStream({ streamtype: "stdout" });
            await up.session.closed;
            const spdyAfter = Date.now() - started;
            assert.ok(
              spdyAfter >= 300 && spdyAfter < 5_000,
              `SPDY session closed after ${spdyAfter} ms`,
            );
            await eventually("sleep killed", () => runtime.execs.at(-1)?.exitCode === 137, 5_000);

            const ws = wsConnect(
              quiet.port,
              "/exec/default/p1/vm?command=sleep&command=30&output=1",
              id,
              [
                "v4.channel.k8s.io",
              ],
            );
            const wsStarted = Date.now();
            await ws.closed;
            const wsAfter = Date.now() - wsStarted;
            assert.ok(wsAfter >= 300 && wsAfter < 5_000, `WebSocket closed after ${wsAfter} ms`);
          } finally {
            await quiet.stop();
          }
        },
      );

      await t.step(
        "--no-verify-clients: certificates are not asked for, tokens still work",
        async () => {
          const open = await serve(
            { certPath, keyPath, caPath: pki.caCert, verifyClients: false },
            runtime,
            pods,
          );
          try {
            const client = Deno.createHttpClient({
              caCerts: [id.ca],
              cert: id.cert!,
              key: id.key!,
            });
            const get = (token?: string) =>
              fetch(`https://127.0.0.1:${open.port}/healthz`, {
                client,
                headers: token ? { authorization: `Bearer ${token}` } : {},
              }).then(async (r) => [r.status, await r.text()]);
            assert.equal((await get())[0], 401, "a certificate alone no longer authenticates");
            assert.deepEqual(await get("good-token"), [200, "ok"]);
            assert.equal((await get("bad-token"))[0], 401);
            client.close();
          } finally {
            await open.stop();
          }
        },
      );
    } finally {
      await server.stop();
      echo.close();
      await runtime.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
