// Attach to a VM's serial console, over a unix socket that behaves like QEMU's (one client at a
// time, echoing what it reads): callers attaching at once share one connection and all see the
// output; input from any reaches the guest; the connection closes when the last one leaves;
// without a socket, attach follows the console log and says input is not taken.

import assert from "node:assert/strict";
import { createVmConsole, READ_ONLY_NOTICE } from "../../src/runtime/vm_console.ts";
import type { ExecIO } from "../../src/runtime/types.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A console socket that serves one client at a time and answers each line it reads. */
function fakeConsole(path: string) {
  const listener = Deno.listen({ transport: "unix", path });
  let connections = 0;
  let open = 0;
  void (async () => {
    for await (const conn of listener) {
      connections++;
      open++;
      // Like QEMU's chardev: a second client waits until the first has gone.
      while (open > 1) await new Promise((r) => setTimeout(r, 10));
      void (async () => {
        let text = "";
        try {
          for await (const chunk of conn.readable) {
            text += new TextDecoder().decode(chunk);
            let nl;
            while ((nl = text.indexOf("\n")) >= 0) {
              await conn.write(enc(`console read: ${text.slice(0, nl)}\n`));
              text = text.slice(nl + 1);
            }
          }
        } catch { /* closed */ }
        open--;
      })();
    }
  })();
  return {
    connections: () => connections,
    open: () => open,
    close: () => listener.close(),
  };
}

function caller(input?: ReadableStream<Uint8Array>) {
  let seen = "";
  let stderr = "";
  const stop = new AbortController();
  const io: ExecIO = {
    tty: false,
    stdin: input,
    stdout: new WritableStream({ write: (c) => void (seen += new TextDecoder().decode(c)) }),
    stderr: new WritableStream({ write: (c) => void (stderr += new TextDecoder().decode(c)) }),
    signal: stop.signal,
  };
  return { io, seen: () => seen, stderr: () => stderr, leave: () => stop.abort() };
}

async function until(what: string, ok: () => boolean) {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

Deno.test("vm console: callers attaching at once share one connection, both ways", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-console-" });
  const fake = fakeConsole(`${dir}/console.sock`);
  const consoles = createVmConsole();
  const ended = new AbortController();
  const target = {
    socketPath: () => `${dir}/console.sock`,
    logPath: `${dir}/console.log`,
    indexPath: `${dir}/console.idx`,
    ended: ended.signal,
  };
  try {
    let typed!: ReadableStreamDefaultController<Uint8Array>;
    const input = new ReadableStream<Uint8Array>({ start: (c) => void (typed = c) });
    const a = caller(input);
    const b = caller();
    const runs = [consoles.attach(target, a.io), consoles.attach(target, b.io)];
    await until("connected", () => fake.open() === 1);
    typed.enqueue(enc("hello\n"));
    await until(
      "both see the answer",
      () => a.seen().includes("console read: hello") && b.seen().includes("console read: hello"),
    );
    assert.equal(fake.connections(), 1, "one connection for both callers");
    a.leave();
    b.leave();
    await Promise.all(runs);
    await until("closed once nobody is attached", () => fake.open() === 0);
  } finally {
    consoles.close();
    fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vm console: the run's end ends every attach", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-console-" });
  const fake = fakeConsole(`${dir}/console.sock`);
  const consoles = createVmConsole();
  const ended = new AbortController();
  try {
    const a = caller();
    const run = consoles.attach({
      socketPath: () => `${dir}/console.sock`,
      logPath: `${dir}/console.log`,
      indexPath: `${dir}/console.idx`,
      ended: ended.signal,
    }, a.io);
    await until("connected", () => fake.open() === 1);
    ended.abort();
    await run;
  } finally {
    consoles.close();
    fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vm console: without a socket attach follows the log, read-only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-console-" });
  const log = `${dir}/console.log`;
  await Deno.writeTextFile(log, "before attach\n");
  const consoles = createVmConsole();
  const ended = new AbortController();
  try {
    const input = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(enc("ignored\n")) });
    const a = caller(input);
    const run = consoles.attach({
      socketPath: () => undefined,
      logPath: log,
      indexPath: `${dir}/console.idx`,
      ended: ended.signal,
    }, a.io);
    await until("the notice", () => a.stderr() === READ_ONLY_NOTICE);
    await new Promise((r) => setTimeout(r, 100));
    await Deno.writeTextFile(log, "after attach\n", { append: true });
    await until("new console output", () => a.seen().includes("after attach"));
    assert.doesNotMatch(a.seen(), /before attach/, "only what comes after attaching");
    a.leave();
    await run;
  } finally {
    consoles.close();
    await Deno.remove(dir, { recursive: true });
  }
});
