// Connecting to guests that are not ready yet: a port that accepts and says nothing (a guest
// whose sshd is still starting) must fail the connect with one clear error, and the errors
// ssh2 emits after it must not escape as uncaught errors (they would end the agent).

import assert from "node:assert/strict";
import { waitForSsh } from "../../src/guest/ssh.ts";

const credentials = { user: "root", password: "not-used" };

const SSH_MODULE = new URL("../../src/guest/ssh.ts", import.meta.url).href;

/**
 * Connects once to `port` in a child process and returns what it wrote to stderr. A child,
 * because Deno reports an 'error' emitted without a listener on its own (a line saying
 * "Uncaught Error"), past any handler a test could install in-process.
 */
async function connectInChild(port: number, timeoutMs: number, settleMs: number) {
  const script = `
    const { connectSsh } = await import(${JSON.stringify(SSH_MODULE)});
    const t = { host: "127.0.0.1", port: ${port}, credentials: { user: "root", password: "x" } };
    const outcome = await connectSsh(t, ${timeoutMs}).then(() => "connected", (e) => e.message);
    await new Promise((r) => setTimeout(r, ${settleMs}));
    console.log(outcome);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout).trim(), stderr: text(out.stderr) };
}

/** A TCP port that accepts connections, holds them `holdMs`, then closes them silently. */
function silentPort(holdMs: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      setTimeout(() => {
        try {
          conn.close();
        } catch { /* closed */ }
      }, holdMs);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await serving.catch(() => {});
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("guest ssh: a silent port fails the connect once; later ssh2 errors stay handled", async () => {
  // Closed after the handshake timeout: ssh2 reports the timeout, then the lost connection.
  const silent = silentPort(400);
  try {
    const child = await connectInChild(silent.port, 200, 600);
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.stdout, "ssh 127.0.0.1: Timed out while waiting for handshake");
    assert.doesNotMatch(child.stderr, /Uncaught/);
  } finally {
    await silent.close();
  }
});

Deno.test("guest ssh: waiting for a guest that never answers ends with the last reason", async () => {
  const silent = silentPort(50);
  try {
    await assert.rejects(
      waitForSsh({ host: "127.0.0.1", port: silent.port, credentials }, 1_500),
      /ssh 127\.0\.0\.1: no answer within 2 s: ssh 127\.0\.0\.1: .*handshake/,
    );
  } finally {
    await silent.close();
  }
});
