// Runs one exec or attach once its streams exist, whatever carried them (SPDY or WebSocket):
// hands the runtime an ExecIO, then reports the outcome on the error channel as the kubelet
// does (v4+: a metav1.Status with the exit code; older protocols: the error text only).

import { NotFoundError } from "../../runtime/types.ts";
import type { ExecIO } from "../../runtime/types.ts";
import type { ServerContext } from "../context.ts";
import { failure, type KubeStatus } from "../status.ts";
import { countedReadable, ownedWritable, resizeEvents } from "./io.ts";

/** The transport-specific side of a remote command session. */
export interface RemoteStreams {
  stdin?: ReadableStream<Uint8Array>;
  stdout?: WritableStream<Uint8Array>;
  stderr?: WritableStream<Uint8Array>;
  /** Raw bytes of the resize channel (JSON objects). */
  resize?: ReadableStream<Uint8Array>;
  tty: boolean;
  /** Protocol generation: 4 and 5 report a JSON Status, older ones plain text on failure. */
  version: number;
  /** Writes the final report on the error channel and closes it. */
  writeError(bytes: Uint8Array): Promise<void>;
  /** Aborted when the caller's connection goes away. */
  signal: AbortSignal;
}

export interface RemoteTarget {
  kind: "exec" | "attach";
  namespace: string;
  pod: string;
  container: string;
  command?: string[];
}

/** The Status the kubelet reports for a command that exited with `code`. */
export function exitStatus(code: number, command: string[] | undefined): KubeStatus {
  if (code === 0) return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success" };
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command ` +
      `[${(command ?? []).join(" ")}], exit code ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

/** Encodes a Status for the error channel of protocol generation `version`. */
export function encodeStatus(status: KubeStatus, version: number): Uint8Array | undefined {
  if (version >= 4) {
    const { kind: _k, apiVersion: _a, ...rest } = status;
    return new TextEncoder().encode(JSON.stringify(rest));
  }
  if (status.status === "Success") return undefined;
  return new TextEncoder().encode(status.message ?? "error");
}

export async function runRemoteCommand(
  ctx: ServerContext,
  target: RemoteTarget,
  streams: RemoteStreams,
): Promise<KubeStatus> {
  const kind = target.kind;
  const count = (dir: "in" | "out") => (n: number) => ctx.metrics.bytes(kind, dir, n);
  const stdout = streams.stdout ? ownedWritable(streams.stdout, count("out")) : undefined;
  const stderr = streams.stderr ? ownedWritable(streams.stderr, count("out")) : undefined;
  const io: ExecIO = {
    stdin: streams.stdin ? countedReadable(streams.stdin, count("in")) : undefined,
    stdout: stdout?.writable,
    stderr: stderr?.writable,
    tty: streams.tty,
    resize: streams.resize ? resizeEvents(streams.resize) : undefined,
    signal: streams.signal,
  };
  const where = `${target.namespace}/${target.pod}/${target.container}`;
  let status: KubeStatus;
  try {
    if (kind === "exec") {
      const code = await ctx.runtime.exec(
        target.namespace,
        target.pod,
        target.container,
        target.command ?? [],
        io,
      );
      status = exitStatus(code, target.command);
    } else {
      await ctx.runtime.attach(target.namespace, target.pod, target.container, io);
      status = exitStatus(0, undefined);
    }
  } catch (err) {
    if (err instanceof NotFoundError) {
      status = failure(404, err.message, { name: target.container, kind: "containers" });
    } else {
      ctx.log.warn(`kubelet API: ${kind} failed`, { container: where, error: err });
      status = failure(
        500,
        `error executing command in container ${where}: ${(err as Error).message}`,
      );
    }
  }
  await Promise.all([stdout?.finish(), stderr?.finish()]);
  const report = encodeStatus(status, streams.version);
  await streams.writeError(report ?? new Uint8Array(0)).catch(() => {});
  return status;
}
