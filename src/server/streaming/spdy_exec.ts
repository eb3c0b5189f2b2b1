// exec and attach over SPDY: waits (up to the creation timeout) for the caller to open the
// streams its flags promise (error, stdin, stdout, stderr, resize; identified by the
// `streamtype` header), replying to each, then runs the command and closes the session.

import type { Duplex } from "node:stream";
import type { ServerContext } from "../context.ts";
import { sessionLifetime } from "./lifetime.ts";
import type { StreamFlags } from "./options.ts";
import { type RemoteTarget, runRemoteCommand } from "./remote_command.ts";
import { SpdySession } from "./spdy/session.ts";
import type { SpdyStream } from "./spdy/stream.ts";

const TYPES = ["error", "stdin", "stdout", "stderr", "resize"] as const;
type StreamType = typeof TYPES[number];

export async function serveSpdyRemoteCommand(
  ctx: ServerContext,
  socket: Duplex,
  head: Uint8Array,
  protocol: string,
  version: number,
  flags: StreamFlags,
  target: RemoteTarget,
): Promise<void> {
  const log = ctx.log.with({
    [target.kind]: `${target.namespace}/${target.pod}/${target.container}`,
  });
  const expected = new Set<StreamType>(["error"]);
  if (flags.stdin) expected.add("stdin");
  if (flags.stdout) expected.add("stdout");
  if (flags.stderr) expected.add("stderr");
  if (flags.tty && version >= 3) expected.add("resize");

  const got = new Map<StreamType, SpdyStream>();
  let allThere!: () => void;
  const ready = new Promise<void>((resolve) => (allThere = resolve));
  const session = new SpdySession(socket, {
    server: true,
    idleTimeoutMs: ctx.timeouts.idleTimeoutMs,
    log,
    onStream(stream) {
      const type = stream.header("streamtype") as StreamType | undefined;
      void stream.reply();
      if (!type || !TYPES.includes(type) || got.has(type)) {
        log.debug("SPDY: unexpected stream ignored", { streamtype: type, protocol });
        return;
      }
      got.set(type, stream);
      if ([...expected].every((t) => got.has(t))) allThere();
    },
  }, head);

  const life = sessionLifetime(ctx, target.kind, session.closed);
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), ctx.timeouts.creationTimeoutMs);
    });
    const outcome = await Promise.race([
      ready,
      expired,
      session.closed.then(() => "gone" as const),
    ]);
    clearTimeout(timer);
    if (outcome === "expired" || outcome === "gone") {
      if (outcome === "expired") {
        const missing = [...expected].filter((t) => !got.has(t));
        log.warn("SPDY: timed out waiting for the caller's streams", {
          missing: missing.join(","),
        });
      }
      return;
    }
    const error = got.get("error")!;
    await runRemoteCommand(ctx, target, {
      stdin: got.get("stdin")?.readable,
      stdout: got.get("stdout")?.writable,
      stderr: got.get("stderr")?.writable,
      resize: got.get("resize")?.readable,
      tty: flags.tty,
      version,
      signal: life.signal,
      async writeError(bytes) {
        const writer = error.writable.getWriter();
        if (bytes.byteLength) await writer.write(bytes);
        await writer.close();
      },
    });
  } finally {
    life.end();
    await session.close().catch(() => {});
  }
}
