// Worker thread of chunked pulls (chunk_pool.ts): downloads one chunk with its own registry
// client (same credentials as the caller's), gunzips and verifies it, and writes it
// sparsely at its offset in the partial file, so chunks decompress and hash on every core
// instead of all on the main thread.

import { type ChunkSpec, runChunk } from "./chunk_run.ts";
import type { RegistryCredential } from "../registry/credentials.ts";
import { staticCredentials } from "../registry/credentials.ts";
import { RegistryError, TlsCertificateError } from "../registry/errors.ts";
import { RegistryClient } from "../registry/client.ts";
import type { SparseWriterStats } from "../store/sparse.ts";
import type { RetryPolicy } from "../registry/transport.ts";
import { createLogger } from "../../telemetry/log.ts";

export interface ChunkJob extends ChunkSpec {
  type: "run";
  id: number;
  client: { insecureRegistries?: string[]; caFile?: string; retry?: RetryPolicy };
  credential?: RegistryCredential;
}

export interface ChunkAbort {
  type: "abort";
  id: number;
}

export interface WireError {
  name: string;
  message: string;
  status?: number;
  registry?: string;
  code?: string;
  /** TlsCertificateError: what the TLS layer said. */
  problem?: string;
}

export type ChunkReply =
  | { type: "bytes"; id: number; n: number }
  | { type: "stall"; id: number; message: string }
  | { type: "done"; id: number; stats: SparseWriterStats }
  | { type: "error"; id: number; error: WireError }
  | { type: "log"; line: string };

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<ChunkJob | ChunkAbort>) => void) | null;
  postMessage(msg: ChunkReply): void;
};

const running = new Map<number, AbortController>();
const clients = new Map<string, RegistryClient>();
/** Progress is reported in steps of this many bytes, not per network read. */
const REPORT_STEP = 1 << 20;

const log = createLogger({
  level: "warn",
  write: (line) => scope.postMessage({ type: "log", line }),
});

function clientFor(job: ChunkJob): RegistryClient {
  const key = JSON.stringify([job.client, job.ref.registry, job.credential ?? null]);
  let c = clients.get(key);
  if (!c) {
    const table = new Map(job.credential ? [[job.ref.registry, job.credential]] : []);
    c = new RegistryClient({ ...job.client, credentials: staticCredentials(table), log });
    clients.set(key, c);
  }
  return c;
}

function wire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: "Error", message: String(err) };
  const out: WireError = { name: err.name, message: err.message };
  if (err instanceof RegistryError) {
    out.status = err.status;
    out.registry = err.registry;
    out.code = err.code;
  }
  if (err instanceof TlsCertificateError) {
    out.registry = err.registry;
    out.problem = err.problem;
  }
  return out;
}

async function run(job: ChunkJob): Promise<void> {
  const abort = new AbortController();
  running.set(job.id, abort);
  let pending = 0;
  const flush = () => {
    if (pending !== 0) scope.postMessage({ type: "bytes", id: job.id, n: pending });
    pending = 0;
  };
  try {
    const stats = await runChunk(clientFor(job), job, abort.signal, (n) => {
      pending += n;
      if (pending >= REPORT_STEP) flush();
    }, (message) => scope.postMessage({ type: "stall", id: job.id, message }));
    flush();
    scope.postMessage({ type: "done", id: job.id, stats });
  } catch (err) {
    flush();
    scope.postMessage({ type: "error", id: job.id, error: wire(err) });
  } finally {
    running.delete(job.id);
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === "abort") running.get(msg.id)?.abort(new DOMException("aborted", "AbortError"));
  else void run(msg);
};
