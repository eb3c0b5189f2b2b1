// The streaming half of the kubelet API tests, as steps any test can run against a world whose
// pod is running: kubectl exec (exit codes, stdout and stderr apart, 4 MiB through stdin and
// back), exec -it (terminal size), attach -i, and port-forward (HTTP, 32 MiB, two ports, two
// connections at once), and the servers the pod's ports reach. `transport` picks kubectl's: its
// default (WebSocket) or SPDY. Which path the API server took is for the caller to check
// (stream_paths.ts).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { freePort } from "../harness/ports.ts";
import { kubectl, type KubeletWorld, portForward } from "./kubelet_api_world.ts";

export type Transport = "WebSocket" | "SPDY";

/** kubectl's environment for a transport. */
export function transportEnv(transport: Transport): Record<string, string> | undefined {
  return transport === "SPDY"
    ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false", KUBECTL_PORT_FORWARD_WEBSOCKETS: "false" }
    : undefined;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** What the scripted pod's ports reach: an HTTP server (`/big`: 32 MiB) and an echo server. */
export interface PodServers {
  httpPort: number;
  echoPort: number;
  bigBody: Uint8Array;
  /** Pod port -> local port, for the scripted runtime's portMap. */
  portMap: Record<number, number>;
  stop(): Promise<void>;
}

export function startPodServers(): PodServers {
  const httpPort = freePort();
  const echoPort = freePort();
  const big = crypto.getRandomValues(new Uint8Array(64 * 1024)).slice();
  const bigBody = new Uint8Array(32 * 1024 * 1024);
  for (let i = 0; i < bigBody.length; i += big.length) bigBody.set(big, i);
  const http = Deno.serve({ hostname: "127.0.0.1", port: httpPort, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/big") return new Response(bigBody);
    return new Response(`hello from the pod, path ${path}\n`);
  });
  const echo = Deno.listen({ hostname: "127.0.0.1", port: echoPort });
  void (async () => {
    for await (const conn of echo) void conn.readable.pipeTo(conn.writable).catch(() => {});
  })();
  return {
    httpPort,
    echoPort,
    bigBody,
    portMap: { 80: httpPort, 7: echoPort },
    async stop() {
      echo.close();
      await http.shutdown();
    },
  };
}

/**
 * exec, exec -i and port-forward over `transport`, to `pod` (running; first container "vm";
 * its ports 80 and 7 reach `servers`).
 */
export async function streamSteps(
  t: Deno.TestContext,
  world: KubeletWorld,
  transport: Transport,
  pod: string,
  servers: PodServers,
): Promise<void> {
  const env = transportEnv(transport);
  const k = (args: string[], stdin?: Uint8Array) => kubectl(world.cp, args, { env, stdin });

  await t.step(
    `kubectl exec (${transport}): stdout and stderr apart, exit codes 0/1/3/127`,
    async () => {
      const ok = await k(["exec", pod, "-c", "vm", "--", "sh", "-c", "echo out; echo err >&2"]);
      assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, "out\n", "err\n"]);
      for (const code of [1, 3]) {
        const r = await k(["exec", pod, "--", "sh", "-c", `echo to-stdout; exit ${code}`]);
        assert.equal(r.code, code);
        assert.equal(r.stdout, "to-stdout\n");
        assert.match(r.stderr, new RegExp(`command terminated with exit code ${code}`));
      }
      const missing = await k(["exec", pod, "--", "no-such-command"]);
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /no-such-command: not found/);
    },
  );

  await t.step(
    `kubectl exec -i (${transport}): 4 MiB of stdin through the command and back`,
    async () => {
      const input = crypto.getRandomValues(new Uint8Array(64 * 1024));
      const data = new Uint8Array(4 * 1024 * 1024);
      for (let i = 0; i < data.length; i += input.length) data.set(input, i);
      const r = await k(["exec", "-i", pod, "--", "cat"], data);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.bytes.byteLength, data.byteLength);
      assert.equal(sha256(r.bytes), sha256(data));
    },
  );

  await t.step(
    `kubectl port-forward (${transport}): HTTP, 32 MiB, two ports, parallel`,
    async () => {
      const pf = await portForward(world.cp, pod, [80, 7], env);
      try {
        const base = `http://127.0.0.1:${pf.local[80]}`;
        assert.equal(await (await fetch(`${base}/x`)).text(), "hello from the pod, path /x\n");
        const downloads = await Promise.all([1, 2, 3].map(async () => {
          const res = await fetch(`${base}/big`);
          return new Uint8Array(await res.arrayBuffer());
        }));
        for (const d of downloads) {
          assert.equal(d.byteLength, servers.bigBody.byteLength);
          assert.equal(sha256(d), sha256(servers.bigBody));
        }
        const conns = await Promise.all(
          [1, 2].map(() => Deno.connect({ hostname: "127.0.0.1", port: pf.local[7] })),
        );
        await Promise.all(conns.map(async (c, i) => {
          const msg = new TextEncoder().encode(`echo ${i}\n`);
          await c.write(msg);
          const buf = new Uint8Array(msg.length);
          let got = 0;
          while (got < msg.length) got += (await c.read(buf.subarray(got))) ?? msg.length;
          assert.equal(new TextDecoder().decode(buf), `echo ${i}\n`);
          c.close();
        }));
      } finally {
        await pf.stop();
      }
      const ports = world.runtime.forwards.map((f) => f.port);
      assert.ok(ports.includes(80) && ports.includes(7));
    },
  );
}

/** exec -it and attach -i, over kubectl's default transport. */
export async function terminalSteps(
  t: Deno.TestContext,
  world: KubeletWorld,
  pod: string,
): Promise<void> {
  const cp = world.cp;
  await t.step("kubectl exec -it: the command gets a terminal of kubectl's size", async () => {
    const inner = `${cp.kubectl} --kubeconfig ${cp.adminKubeconfig} exec -it ${pod} -- ` +
      `sh -c 'stty size; test -t 0 && echo is-a-tty; exit 5'`;
    const out = await new Deno.Command("script", {
      args: ["-qfec", `stty cols 91 rows 33; ${inner}`, "/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 5, text);
    assert.match(text, /33 91\r\n/);
    assert.match(text, /is-a-tty\r\n/);
    assert.ok(world.runtime.resizes.some((s) => s.width === 91 && s.height === 33));
    assert.ok(world.runtime.execs.some((e) => e.tty && e.exitCode === 5));
  });

  await t.step("kubectl attach -i: input reaches the console, its output comes back", async () => {
    const r = await kubectl(cp, ["attach", "-i", pod, "-c", "vm"], {
      stdin: "hello\nworld\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "console: hello\nconsole: world\n");
    const lines = world.runtime.log("default", pod, "vm").lines;
    assert.deepEqual(lines.slice(-2).map((l) => l.text), ["console: hello", "console: world"]);
  });
}
