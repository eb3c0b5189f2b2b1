// The VM helper's control protocol over a real unix socket, driven by a scripted shim: start
// and its state events, request-stop, forced stop, a crash becoming the error state, the
// framework's VM limit as its own error code, SIGTERM's shutdown, and the socket going away
// when the VM has ended. Plus the lifecycle transitions on their own.

import assert from "node:assert/strict";
import { startVmHelper } from "../../src/vm/vz/helper.ts";
import { connectHelper, type HelperClient } from "../../src/vm/vz/control_client.ts";
import type { HelperSpec, HelperStatus } from "../../src/vm/vz/protocol.ts";
import { HelperError } from "../../src/vm/vz/protocol.ts";
import {
  INITIAL,
  onAsked,
  onEvent,
  REASON_ASKED,
  REASON_FORCED,
  REASON_GUEST,
  settle,
} from "../../src/vm/vz/lifecycle.ts";
import { scriptedShim, type ShimScript } from "../support/scripted_vz_shim.ts";

interface World {
  dir: string;
  spec: HelperSpec;
  client: HelperClient;
  statuses: HelperStatus[];
  done: Promise<number>;
  shutdown(ms: number): Promise<void>;
  shim: ReturnType<typeof scriptedShim>;
}

async function world(script: ShimScript, os: "darwin" | "linux" = "darwin"): Promise<World> {
  const dir = await Deno.makeTempDir({ prefix: "vzk-helper-" });
  const spec: HelperSpec = {
    id: "uid-1",
    name: "ci/runner-1",
    os,
    socketPath: `${dir}/control.sock`,
    consoleLog: `${dir}/console.log`,
    exitFile: `${dir}/exit.json`,
    description: { version: 1 } as HelperSpec["description"],
  };
  const shim = scriptedShim(script);
  const helper = await startVmHelper({
    spec,
    shim,
    log: () => {},
    settleMs: 50,
    eventPollMs: 20,
    idleTimeoutMs: 5_000,
  });
  const client = await connectHelper(spec.socketPath);
  const statuses: HelperStatus[] = [];
  client.onStatus((s) => statuses.push(s));
  return { dir, spec, client, statuses, done: helper.done, shutdown: helper.shutdown, shim };
}

async function ended(w: World): Promise<{ code: number; final: HelperStatus }> {
  const code = await w.done;
  await w.client.closed;
  const final = w.statuses.at(-1)!;
  await Deno.remove(w.dir, { recursive: true });
  return { code, final };
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("vz helper: start, state events, request-stop -> the guest shuts down as asked", async () => {
  const w = await world({ shutdownAfterMs: 30 });
  assert.deepEqual(await w.client.request("status"), {
    id: "uid-1",
    pid: Deno.pid,
    state: "created",
    ended: false,
  });
  const started = await w.client.request("start");
  assert.equal(started.state, "running");
  assert.ok(w.statuses.some((s) => s.state === "starting"), "starting was pushed");
  assert.equal(w.shim.vms.length, 1);
  assert.deepEqual(w.shim.vms[0].description, { version: 1 });
  // A second start (an agent reconnecting) is answered, not repeated.
  assert.equal((await w.client.request("start")).state, "running");
  assert.deepEqual(w.shim.vms[0].calls, ["start"]);

  await w.client.request("request-stop");
  const exitFile = w.spec.exitFile;
  const consoleLog = w.spec.consoleLog;
  const socket = w.spec.socketPath;
  const code = await w.done;
  await w.client.closed;
  const final = w.statuses.at(-1)!;
  assert.equal(code, 0);
  assert.deepEqual({ state: final.state, reason: final.reason, ended: final.ended }, {
    state: "stopped",
    reason: REASON_ASKED,
    ended: true,
  });
  assert.ok(!(await exists(socket)), "the socket is gone once the VM has ended");
  const exit = JSON.parse(await Deno.readTextFile(exitFile));
  assert.equal(exit.state, "stopped");
  assert.equal(exit.reason, REASON_ASKED);
  // macOS guests have no serial console: the lifecycle goes to the container log.
  const log = await Deno.readTextFile(consoleLog);
  assert.match(log, /\[vz\] vm ci\/runner-1: running/);
  assert.match(log, /stopped \(the guest shut down when asked\)/);
  assert.ok(w.shim.vms[0].released, "the handle was released");
  await assert.rejects(connectHelper(socket));
  await Deno.remove(w.dir, { recursive: true });
});

Deno.test("vz helper: stop forces the VM off and says the agent did it", async () => {
  const w = await world({});
  await w.client.request("start");
  const s = await w.client.request("stop");
  assert.equal(s.state, "stopped");
  assert.equal(s.reason, REASON_FORCED);
  const { code, final } = await ended(w);
  assert.equal(code, 0);
  assert.equal(final.reason, REASON_FORCED);
});

Deno.test("vz helper: a crash becomes the error state with the framework's reason", async () => {
  const w = await world({ crashAfterMs: 20 }, "linux");
  await w.client.request("start");
  const { code, final } = await ended(w);
  assert.equal(code, 1);
  assert.equal(final.state, "error");
  assert.match(final.reason!, /stopped with an error: The virtual machine stopped unexpectedly/);
  assert.match(final.reason!, /VZErrorDomain 1/);
});

Deno.test("vz helper: the framework's VM limit is its own error code", async () => {
  const w = await world({
    startError: {
      domain: "VZErrorDomain",
      code: 6,
      message: "The number of virtual machines exceeds the limit.",
    },
  });
  const err = await w.client.request("start").catch((e) => e);
  assert.ok(err instanceof HelperError);
  assert.equal(err.code, "limit-exceeded");
  assert.match(err.message, /exceeds the limit/);
  const { code, final } = await ended(w);
  assert.equal(code, 1);
  assert.match(final.reason!, /^start: The number of virtual machines/);
});

Deno.test("vz helper: a guest that ignores request-stop is stopped after SIGTERM's grace", async () => {
  const w = await world({}); // ignores requestStop
  await w.client.request("start");
  const t0 = Date.now();
  await w.shutdown(200);
  const { code, final } = await ended(w);
  assert.ok(Date.now() - t0 >= 200, "waited for the grace period");
  assert.equal(code, 0);
  assert.equal(final.reason, REASON_FORCED);
  assert.deepEqual(w.shim.vms[0].calls, ["start", "request-stop", "stop"]);
});

Deno.test("vz helper: a bare stopped state settles as the guest's own shutdown", async () => {
  const w = await world({ powerOffAfterMs: 20, silentPowerOff: true });
  await w.client.request("start");
  const { code, final } = await ended(w);
  assert.equal(code, 0);
  assert.equal(final.reason, REASON_GUEST);
});

Deno.test("vz helper: pause/resume, wrong-state requests and bad lines get answers", async () => {
  const w = await world({});
  const early = await w.client.request("request-stop").catch((e) => e);
  assert.ok(early instanceof HelperError);
  assert.equal(early.code, "invalid-state");
  await w.client.request("start");
  assert.equal((await w.client.request("pause")).state, "paused");
  const again = await w.client.request("pause").catch((e) => e);
  assert.equal(again.code, "invalid-state");
  assert.equal((await w.client.request("resume")).state, "running");

  const raw = await Deno.connect({ transport: "unix", path: w.spec.socketPath });
  await raw.write(new TextEncoder().encode('{"id": 7, "op": "explode"}\n'));
  const buf = new Uint8Array(4096);
  const n = await raw.read(buf);
  const reply = JSON.parse(new TextDecoder().decode(buf.subarray(0, n!)).split("\n")[0]);
  assert.deepEqual({ reply: reply.reply, ok: reply.ok, code: reply.code }, {
    reply: 7,
    ok: false,
    code: "bad-request",
  });
  raw.close();
  await w.client.request("stop");
  assert.equal((await ended(w)).code, 0);
});

Deno.test("vz helper: a VM nobody starts is given up, and the helper exits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-helper-" });
  const spec: HelperSpec = {
    id: "uid-2",
    name: "ci/orphan",
    os: "linux",
    socketPath: `${dir}/control.sock`,
    consoleLog: `${dir}/console.log`,
    exitFile: `${dir}/exit.json`,
    description: { version: 1 } as HelperSpec["description"],
  };
  const helper = await startVmHelper({
    spec,
    shim: scriptedShim(),
    log: () => {},
    idleTimeoutMs: 50,
  });
  assert.equal(await helper.done, 0);
  const exit = JSON.parse(await Deno.readTextFile(spec.exitFile));
  assert.match(exit.reason, /nobody started the VM/);
  assert.ok(!(await exists(spec.socketPath)));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("vz lifecycle: delegate calls end at once, bare states after settling", () => {
  const running = onEvent(INITIAL, { type: "state", state: "running" });
  assert.deepEqual(running, { state: "running", ended: false });
  const guest = onEvent(running, { type: "guest-stopped" });
  assert.deepEqual(guest, { state: "stopped", ended: true, reason: REASON_GUEST });
  // Nothing after the end changes it.
  assert.equal(onEvent(guest, { type: "state", state: "running" }), guest);
  const asked = onAsked(running, "request-stop");
  const bare = onEvent(asked, { type: "state", state: "stopped" });
  assert.equal(bare.ended, false);
  assert.deepEqual(settle(bare), { ...bare, ended: true, reason: REASON_ASKED });
  const forced = onEvent(onAsked(running, "stop"), { type: "state", state: "stopped" });
  assert.deepEqual({ ended: forced.ended, reason: forced.reason }, {
    ended: true,
    reason: REASON_FORCED,
  });
  const err = settle(onEvent(running, { type: "state", state: "error" }));
  assert.match(err.reason!, /error state/);
  assert.equal(
    onEvent(running, {
      type: "network-disconnected",
      error: {
        domain: "VZErrorDomain",
        code: 7,
        message: "gone",
      },
    }),
    running,
  );
});
