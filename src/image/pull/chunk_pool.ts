// A pool of chunk workers (chunk_worker.ts) for chunked pulls: each chunk is downloaded,
// gunzipped, verified and written on its own thread, so a chunked pull uses every core.
// Errors come back with their class (digest mismatch, authentication, not found, untrusted
// certificate) intact.

import { DigestMismatchError } from "../format/digest.ts";
import {
  AuthError,
  NotFoundError,
  RegistryError,
  TlsCertificateError,
} from "../registry/errors.ts";
import type { ChunkJob, ChunkReply, WireError } from "./chunk_worker.ts";
import type { SparseWriterStats } from "../store/sparse.ts";
import { runChunk } from "./chunk_run.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { Logger } from "../../telemetry/log.ts";

/** Rebuilds an error of the right class from its wire form. */
export function unwire(e: WireError): Error {
  let err: Error;
  switch (e.name) {
    case "DigestMismatchError":
      err = new DigestMismatchError("", "", "");
      break;
    case "AuthError":
      err = new AuthError("", e.registry ?? "", e.status ?? 401);
      break;
    case "NotFoundError":
      err = new NotFoundError("", e.registry ?? "", e.code);
      break;
    case "RegistryError":
      err = new RegistryError("", e.registry ?? "", e.status ?? 0, e.code);
      break;
    case "TlsCertificateError":
      err = new TlsCertificateError(e.registry ?? "", e.problem ?? "");
      break;
    default:
      err = new Error("");
      err.name = e.name;
  }
  err.message = e.message;
  return err;
}

interface Pending {
  resolve: (s: SparseWriterStats) => void;
  reject: (e: Error) => void;
  onBytes: (n: number) => void;
  onStall: (message: string) => void;
  worker: Worker;
}

/** The caller's own thread, as one more place to run chunks. */
const INLINE = "inline" as const;
type Slot = Worker | typeof INLINE;

/**
 * Worker threads for chunks, plus the caller's thread. A thread runs several chunks at once
 * (they mostly wait on the network), so network concurrency can exceed the thread count
 * without paying ~50 MB of memory per extra isolate; the caller's thread takes its share so
 * N cores need only N-1 workers.
 */
export class ChunkPool {
  #all: Worker[] = [];
  #load = new Map<Slot, number>([[INLINE, 0]]);
  #pending = new Map<number, Pending>();
  #nextId = 0;

  constructor(workers: number, log: Logger, private inline: RegistryClient) {
    for (let i = 0; i < workers; i++) {
      const w = new Worker(new URL("./chunk_worker.ts", import.meta.url).href, { type: "module" });
      w.onmessage = (e: MessageEvent<ChunkReply>) => {
        const msg = e.data;
        if (msg.type === "log") return log.warn("chunk worker", { record: msg.line });
        const p = this.#pending.get(msg.id);
        if (!p) return;
        if (msg.type === "bytes") return p.onBytes(msg.n);
        if (msg.type === "stall") return p.onStall(msg.message);
        this.#pending.delete(msg.id);
        this.#load.set(p.worker, (this.#load.get(p.worker) ?? 1) - 1);
        if (msg.type === "done") p.resolve(msg.stats);
        else p.reject(unwire(msg.error));
      };
      w.onerror = (e) => {
        e.preventDefault();
        for (const [id, p] of this.#pending) {
          if (p.worker !== w) continue;
          this.#pending.delete(id);
          p.reject(new Error(`chunk worker failed: ${e.message}`));
        }
      };
      this.#all.push(w);
      this.#load.set(w, 0);
    }
  }

  /** The least busy thread (the caller's own on ties). */
  #pick(): Slot {
    let best: Slot = INLINE;
    for (const w of this.#all) if (this.#load.get(w)! < this.#load.get(best)!) best = w;
    return best;
  }

  /** Runs one chunk; `signal` aborts it (the worker cleans up and reports the abort). */
  async run(
    job: Omit<ChunkJob, "type" | "id">,
    signal: AbortSignal,
    onBytes: (n: number) => void,
    onStall: (message: string) => void,
  ): Promise<SparseWriterStats> {
    signal.throwIfAborted();
    const slot = this.#pick();
    this.#load.set(slot, this.#load.get(slot)! + 1);
    if (slot === INLINE) {
      try {
        return await runChunk(this.inline, job, signal, onBytes, onStall);
      } finally {
        this.#load.set(INLINE, this.#load.get(INLINE)! - 1);
      }
    }
    const worker = slot;
    const id = this.#nextId++;
    const onAbort = () => worker.postMessage({ type: "abort", id });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await new Promise<SparseWriterStats>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject, onBytes, onStall, worker });
        worker.postMessage({ ...job, type: "run", id } satisfies ChunkJob);
      });
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  close(): void {
    for (const w of this.#all) w.terminate();
    this.#all = [];
    this.#load = new Map([[INLINE, 0]]);
  }
}
