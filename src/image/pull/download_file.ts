// Downloading one guest file to a target path, verified: single-layer files stream through
// a temp file that is renamed onto the target only after both digests match; chunked files
// are assembled in a partial directory with a list of finished chunks, so a killed pull
// resumes chunk by chunk, and chunks download in parallel, each lane unpacking on its own worker.
// Knows nothing of the store:
// fetch_file.ts (store) and pull_to_dir.ts (`image pull -o DIR`) choose the target.

import { posix } from "node:path";
import { blobStream } from "../registry/blob_stream.ts";
import { messageOf, withContext } from "../../util/errors.ts";
import type { FileEntry, FilePart } from "../format/layout.ts";
import type { ImageReference } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { readJson, recordVerified, tempPath, writeFileAtomic } from "../store/store_fs.ts";
import { unpackPart } from "../store/unpack.ts";
import { runChunk } from "./chunk_run.ts";
import { ChunkLane } from "./chunk_lane.ts";
import type { Logger } from "../../telemetry/log.ts";

export interface FileProgress {
  file: string;
  /** Compressed bytes received (or found already present) so far. */
  doneBytes: number;
  totalBytes: number;
  state: "downloading" | "verified" | "cached" | "stalled";
  /** With "stalled": what happened (the registry, how long, where it resumes). */
  message?: string;
}

/** Where a downloaded file goes. */
export interface FileTarget {
  finalPath: string;
  /** Directory for the temp file (same file system as finalPath). */
  tmpDir: string;
  /** Directory holding a chunked file being assembled (kept across runs to resume). */
  partialDir: string;
  /** Write `<finalPath>.verified` after the rename. */
  record: boolean;
}

export interface DownloadOptions {
  signal: AbortSignal;
  concurrency?: number;
  log: Logger;
  onProgress?: (p: FileProgress) => void;
}

/** Chunk lanes: one per core (up to 4); measured faster and leaner than more on loopback. */
const DEFAULT_CONCURRENCY = Math.min(navigator.hardwareConcurrency || 2, 4);
/** Files from this size are hashed on a worker beside the inflating thread. */
const WORKER_HASH_MIN = 64 << 20;

export function compressedTotal(file: FileEntry): number {
  return file.parts.reduce((n, p) => n + p.layer.size, 0);
}

/** Downloads and verifies `file` onto `target.finalPath`; returns compressed bytes fetched. */
export async function downloadFile(
  client: RegistryClient,
  ref: ImageReference,
  file: FileEntry,
  target: FileTarget,
  opts: DownloadOptions,
  what: string,
): Promise<number> {
  const n = file.parts.length === 1 && file.parts[0].offset === 0
    ? await fetchWhole(client, ref, file, target, opts, what)
    : await fetchChunked(client, ref, file, target, opts, what);
  if (target.record) await recordVerified(target.finalPath, file.id);
  return n;
}

/** Tells the caller that the registry stalled (the runtime turns it into a pod message). */
function stalled(
  opts: DownloadOptions,
  file: FileEntry,
  doneBytes: number,
  totalBytes: number,
  message: string,
): void {
  opts.log.warn("registry stalled; resuming the download", { file: file.name, message });
  opts.onProgress?.({ file: file.name, doneBytes, totalBytes, state: "stalled", message });
}

function partWhat(what: string, part: FilePart): string {
  return `${what}: layer ${part.layer.digest}`;
}

async function fetchWhole(
  client: RegistryClient,
  ref: ImageReference,
  file: FileEntry,
  target: FileTarget,
  opts: DownloadOptions,
  what: string,
): Promise<number> {
  const part = file.parts[0];
  const tmp = tempPath(target.tmpDir, posix.basename(target.finalPath));
  let received = 0;
  const total = part.layer.size;
  const handle = await Deno.open(tmp, { read: true, write: true, createNew: true, mode: 0o644 });
  try {
    await handle.truncate(file.size);
    const stream = blobStream(client, ref, part.layer, {
      signal: opts.signal,
      onBytes: (n) => {
        received += n;
        opts.onProgress?.({
          file: file.name,
          doneBytes: received,
          totalBytes: total,
          state: "downloading",
        });
      },
      onStall: (s) => stalled(opts, file, received, total, s.message),
    });
    await unpackPart(stream, handle, part, {
      what: partWhat(what, part),
      hash: part.size >= WORKER_HASH_MIN ? "worker" : "inline",
    });
    await handle.syncData();
    handle.close();
    await Deno.rename(tmp, target.finalPath);
    return received;
  } catch (err) {
    try {
      handle.close();
    } catch {
      // already closed
    }
    await Deno.remove(tmp).catch(() => {});
    throw withContext(err, what);
  }
}

interface PartialState {
  id: string;
  done: number[];
}

async function fetchChunked(
  client: RegistryClient,
  ref: ImageReference,
  file: FileEntry,
  target: FileTarget,
  opts: DownloadOptions,
  what: string,
): Promise<number> {
  const dir = target.partialDir;
  const dataPath = posix.join(dir, "data");
  const statePath = posix.join(dir, "state.json");
  await Deno.mkdir(dir, { recursive: true });
  const state = await readJson<PartialState>(statePath);
  let resumed = false;
  let done = new Set<number>();
  try {
    const st = await Deno.stat(dataPath);
    if (state?.id === file.id && st.size === file.size) {
      done = new Set(state.done.filter((i) => i >= 0 && i < file.parts.length));
      resumed = true;
    }
  } catch {
    // no partial data yet
  }
  if (!resumed) {
    const f = await Deno.open(dataPath, { write: true, create: true, truncate: true, mode: 0o644 });
    await f.truncate(file.size);
    f.close();
    done = new Set();
    await writeFileAtomic(statePath, JSON.stringify({ id: file.id, done: [] }));
  } else {
    opts.log.info("resuming chunked download", {
      file: file.name,
      chunksDone: done.size,
      chunks: file.parts.length,
    });
  }

  const total = compressedTotal(file);
  let progress = file.parts.reduce((n, p, i) => n + (done.has(i) ? p.layer.size : 0), 0);
  let downloaded = 0;
  const report = (n: number) => {
    progress += n;
    downloaded += n;
    opts.onProgress?.({
      file: file.name,
      doneBytes: progress,
      totalBytes: total,
      state: "downloading",
    });
  };
  let saving = Promise.resolve();
  const markDone = (i: number) => {
    done.add(i);
    const snapshot = JSON.stringify({ id: file.id, done: [...done].sort((a, b) => a - b) });
    saving = saving.then(() => writeFileAtomic(statePath, snapshot));
    return saving;
  };

  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal.reason);
  opts.signal.addEventListener("abort", onOuterAbort, { once: true });
  const queue = file.parts.map((p, i) => ({ p, i })).filter(({ i }) => !done.has(i));
  let failure: unknown;
  const n = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_CONCURRENCY, queue.length));
  // Every lane reads its chunks' blobs on this thread and unpacks them on its own worker
  // (~15 MB each: no registry client there), so lanes inflate and hash in parallel.
  const lanes = Array.from({ length: n }, () => new ChunkLane());
  const runLane = async (lane: ChunkLane) => {
    for (let next = queue.shift(); next && !failure; next = queue.shift()) {
      const { p, i } = next;
      let got = 0;
      try {
        // A chunk not marked done may hold bytes of an interrupted attempt: write it densely.
        await runChunk(
          client,
          { ref, part: p, dataPath, dense: resumed, what: partWhat(what, p) },
          abort.signal,
          lane,
          (bytes) => {
            got += bytes;
            report(bytes);
          },
          (message) => stalled(opts, file, progress, total, message),
        );
        await markDone(i);
      } catch (err) {
        report(-got);
        failure ??= err;
        abort.abort(err);
      }
    }
  };
  try {
    await Promise.all(lanes.map(runLane));
    await saving;
  } finally {
    for (const lane of lanes) lane.close();
    opts.signal.removeEventListener("abort", onOuterAbort);
  }
  if (failure) {
    throw withContext(failure, what);
  }
  if (done.size !== file.parts.length) throw new Error(`${what}: chunks missing after download`);
  try {
    await Deno.rename(dataPath, target.finalPath);
    await Deno.remove(dir, { recursive: true });
  } catch (err) {
    throw new Error(`${what}: moving the assembled file into place: ${messageOf(err)}`);
  }
  return downloaded;
}
