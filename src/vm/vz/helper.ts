// The VM helper process's logic (`macos-vz-kubelet vm run --spec FILE`): it holds one VM
// through a VzShim and answers the control protocol (protocol.ts) on a unix socket in the VM's
// work directory. One process per VM means an agent restart leaves the VM running and
// adoptable, and a crash inside the framework takes down one VM, not the node. Written against
// the VzShim interface, so on Linux a scripted shim drives it in tests.

import { drainEvents } from "../../../ffi/events.ts";
import type { VzShim, VzVmHandle } from "../../../ffi/types.ts";
import {
  INITIAL,
  type Lifecycle,
  needsSettle,
  onAbandoned,
  onAsked,
  onEvent,
  onForcedStop,
  onStartFailed,
  settle,
} from "./lifecycle.ts";
import {
  asRequest,
  encodeLine,
  errorCode,
  HelperError,
  type HelperMessage,
  type HelperOp,
  type HelperSpec,
  type HelperStatus,
  jsonLines,
} from "./protocol.ts";

export interface HelperOptions {
  spec: HelperSpec;
  shim: VzShim;
  log?: (line: string) => void;
  /** Give up on a VM nobody started within this long (its agent went away). */
  idleTimeoutMs?: number;
  /** Grace for the delegate call that explains a bare stopped/error state. */
  settleMs?: number;
  /** How long one event wait may take in the shim. */
  eventPollMs?: number;
}

export interface RunningHelper {
  /** Resolves with the process's exit code (0: the VM stopped, 1: it failed) after clean-up. */
  done: Promise<number>;
  /** SIGTERM: ask the guest to shut down, stop it after `graceMs`, end. */
  shutdown(graceMs: number): Promise<void>;
}

const message = (err: unknown) => err instanceof Error ? err.message : String(err);

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}

export async function startVmHelper(opts: HelperOptions): Promise<RunningHelper> {
  const { spec, shim } = opts;
  const log = opts.log ?? ((line: string) => console.error(line));
  const settleMs = opts.settleMs ?? 1_000;
  const pollMs = opts.eventPollMs ?? 500;

  await Deno.remove(spec.socketPath).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: spec.socketPath });
  let life: Lifecycle = INITIAL;
  let handle: VzVmHandle | undefined;
  /** Each client's writer and its last write, so the final event is flushed before exit. */
  const clients = new Map<WritableStreamDefaultWriter<Uint8Array>, Promise<void>>();
  let ops: Promise<unknown> = Promise.resolve();
  /** Requests not yet answered: the end waits for their replies. */
  const answering = new Set<Promise<void>>();
  let consoleWrites: Promise<void> = Promise.resolve();
  let settleTimer: ReturnType<typeof setTimeout> | undefined;
  let finishing: Promise<void> | undefined;
  let exit!: (code: number) => void;
  const done = new Promise<number>((r) => exit = r);

  const status = (): HelperStatus => ({
    id: spec.id,
    pid: Deno.pid,
    state: life.state,
    ...(life.reason ? { reason: life.reason } : {}),
    ended: life.ended,
  });

  function send(w: WritableStreamDefaultWriter<Uint8Array>, msg: HelperMessage) {
    const last = clients.get(w) ?? Promise.resolve();
    clients.set(w, last.then(() => w.write(encodeLine(msg))).catch(() => {}));
  }

  function update(next: Lifecycle) {
    const before = life;
    life = next;
    if (
      next.state === before.state && next.reason === before.reason && next.ended === before.ended
    ) {
      return;
    }
    const line = `vm ${spec.name}: ${life.state}${life.reason ? ` (${life.reason})` : ""}`;
    log(line);
    if (spec.os === "darwin") {
      // macOS guests have no serial console: the container log shows the VM's lifecycle.
      const text = `${new Date().toISOString()} [vz] ${line}\n`;
      consoleWrites = consoleWrites.then(() =>
        Deno.writeTextFile(spec.consoleLog, text, { append: true }).catch(() => {})
      );
    }
    for (const w of clients.keys()) send(w, { event: "state", status: status() });
    clearTimeout(settleTimer);
    if (life.ended) void finish();
    else if (needsSettle(life)) settleTimer = setTimeout(() => update(settle(life)), settleMs);
  }

  function drain(h: VzVmHandle): Promise<void> {
    return drainEvents(
      h,
      (e) => {
        if (e.type === "network-disconnected") {
          log(`vm ${spec.name}: network attachment disconnected: ${e.error.message}`);
        }
        update(onEvent(life, e));
      },
      () => life.ended,
      {
        pollMs,
        onError: (err) => log(`vm ${spec.name}: reading events failed: ${message(err)}`),
      },
    );
  }

  const idleTimer = setTimeout(() => {
    if (!handle) {
      update(onAbandoned(
        life,
        `nobody started the VM within ${Math.round((opts.idleTimeoutMs ?? 120_000) / 1000)} s`,
      ));
    }
  }, opts.idleTimeoutMs ?? 120_000);

  function vm(op: HelperOp): VzVmHandle {
    if (!handle) throw new HelperError(`vm ${spec.name}: ${op}: not started`, "invalid-state");
    return handle;
  }

  async function start(): Promise<HelperStatus> {
    if (life.ended) {
      throw new HelperError(`vm ${spec.name}: has ended (${life.reason})`, "invalid-state");
    }
    if (handle) return status(); // started already: a reconnecting agent asks again
    clearTimeout(idleTimer);
    try {
      handle = await shim.createVm(JSON.stringify(spec.description));
    } catch (err) {
      update(onStartFailed(life, message(err)));
      throw err;
    }
    void drain(handle);
    try {
      await handle.start();
    } catch (err) {
      update(onStartFailed(life, message(err)));
      throw err;
    }
    // The start completed; its "running" state event is on its way through the queue.
    await waitFor(() => life.state === "running" || life.ended, 2_000);
    return status();
  }

  async function perform(op: HelperOp): Promise<HelperStatus> {
    switch (op) {
      case "status":
        return status();
      case "start":
        return await start();
      case "request-stop":
        vm(op);
        update(onAsked(life, "request-stop"));
        await vm(op).requestStop();
        return status();
      case "stop":
        if (!handle) {
          update(onAbandoned(life, "stopped before it was started"));
          return status();
        }
        if (life.ended) return status();
        update(onAsked(life, "stop"));
        await handle.stop();
        update(onForcedStop(life));
        return status();
      case "pause":
        await vm(op).pause();
        await waitFor(() => life.state === "paused" || life.ended, 2_000);
        return status();
      case "resume":
        await vm(op).resume();
        await waitFor(() => life.state === "running" || life.ended, 2_000);
        return status();
    }
  }

  /** Runs operations one at a time, whichever client asks. */
  function enqueue(op: HelperOp): Promise<HelperStatus> {
    const result = ops.then(() => perform(op));
    ops = result.catch(() => {});
    return result;
  }

  async function serve(conn: Deno.UnixConn) {
    const w = conn.writable.getWriter();
    clients.set(w, Promise.resolve());
    try {
      for await (const line of jsonLines(conn.readable)) {
        const req = asRequest(line);
        if (!req) {
          const id = (line as { id?: unknown })?.id;
          send(w, {
            reply: typeof id === "number" ? id : 0,
            ok: false,
            error: `not a request: ${JSON.stringify(line)}`,
            code: "bad-request",
          });
          continue;
        }
        const answer = enqueue(req.op).then(
          (s) => send(w, { reply: req.id, ok: true, status: s }),
          (err) =>
            send(w, {
              reply: req.id,
              ok: false,
              error: message(err),
              code: err instanceof HelperError ? err.code : errorCode(err),
            }),
        );
        answering.add(answer);
        answer.then(() => answering.delete(answer));
      }
    } catch { /* the client went away */ }
    if (!finishing) {
      clients.delete(w);
      await w.close().catch(() => {});
    }
  }

  async function finish() {
    finishing ??= (async () => {
      clearTimeout(idleTimer);
      clearTimeout(settleTimer);
      const final = { ...status(), at: new Date().toISOString() };
      await Deno.writeTextFile(spec.exitFile, JSON.stringify(final)).catch((err) =>
        log(`vm ${spec.name}: cannot write ${spec.exitFile}: ${message(err)}`)
      );
      await consoleWrites;
      // Requests in flight (e.g. the start whose VM just failed) still get their answer.
      await waitFor(() => answering.size === 0, 5_000);
      await Promise.allSettled([...clients.values()]);
      try {
        listener.close();
      } catch { /* closed */ }
      for (const w of clients.keys()) await w.close().catch(() => {});
      await handle?.release();
      await Deno.remove(spec.socketPath).catch(() => {});
      exit(life.state === "stopped" ? 0 : 1);
    })();
    return await finishing;
  }

  (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {/* the listener closed */});
  log(`vm ${spec.name}: helper ${Deno.pid} listening on ${spec.socketPath}`);

  return {
    done,
    async shutdown(graceMs: number) {
      if (life.ended) return;
      if (!handle) {
        update(onAbandoned(life, "the helper was told to exit before the VM started"));
        return;
      }
      log(`vm ${spec.name}: told to exit: asking the guest to shut down`);
      await enqueue("request-stop").catch((err) =>
        log(`vm ${spec.name}: request stop: ${message(err)}`)
      );
      await waitFor(() => life.ended, graceMs);
      if (!life.ended) {
        await enqueue("stop").catch((err) => log(`vm ${spec.name}: stop: ${message(err)}`));
      }
      // Exiting ends the VM in any case (its framework process goes with this one).
      update(onAbandoned(life, "the helper was told to exit and the VM would not stop"));
    },
  };
}
