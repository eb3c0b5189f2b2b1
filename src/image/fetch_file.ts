// Making one guest file present and verified in the store. A file already verified (by
// stat against its record) costs nothing; one changed since is discarded and fetched again.
// Single-layer files stream through a temp file and are renamed into place only after
// both digests match. Chunked files are assembled in partial/<id>/ with a list of finished
// chunks, so a killed pull resumes chunk by chunk; chunks download in parallel.
// A file lock per file keeps two processes from fetching the same file at once.

import { posix } from "node:path";
import { blobStream } from "./blob_stream.ts";
import { messageOf, withContext } from "./errors.ts";
import type { FileEntry, FilePart } from "./format.ts";
import { formatReference, type ImageReference } from "./reference.ts";
import type { RegistryClient } from "./registry.ts";
import { SingleFlight } from "./singleflight.ts";
import type { ImageStore } from "./store.ts";
import {
  checkVerified,
  readJson,
  recordVerified,
  removeVerified,
  tempPath,
  withFileLock,
  writeFileAtomic,
} from "./store_fs.ts";
import { unpackPart } from "./unpack.ts";
import type { Logger } from "../telemetry/log.ts";
import { digestHex } from "./digest.ts";

export interface FileProgress {
  file: string;
  /** Compressed bytes received (or found already present) so far. */
  doneBytes: number;
  totalBytes: number;
  state: "downloading" | "verified" | "cached";
}

export interface EnsureFileOptions {
  signal: AbortSignal;
  concurrency?: number;
  log: Logger;
  onProgress?: (p: FileProgress) => void;
}

export interface EnsureFileResult {
  replaced: boolean;
  downloadedBytes: number;
}

const fileFlights = new SingleFlight<EnsureFileResult, FileProgress>();
const DEFAULT_CONCURRENCY = 4;

function compressedTotal(file: FileEntry): number {
  return file.parts.reduce((n, p) => n + p.layer.size, 0);
}

/** Makes `file` present and verified in the store; shared by concurrent callers. */
export function ensureFile(
  client: RegistryClient,
  store: ImageStore,
  ref: ImageReference,
  file: FileEntry,
  opts: EnsureFileOptions,
): Promise<EnsureFileResult> {
  return fileFlights.run(
    `${store.layout.root}\n${file.id}`,
    (flight) =>
      ensureFileOnce(client, store, ref, file, {
        ...opts,
        signal: flight.signal,
        onProgress: flight.emit,
      }),
    { signal: opts.signal, onProgress: opts.onProgress },
  );
}

async function ensureFileOnce(
  client: RegistryClient,
  store: ImageStore,
  ref: ImageReference,
  file: FileEntry,
  opts: EnsureFileOptions,
): Promise<EnsureFileResult> {
  const path = store.layout.filePath(file.id);
  const total = compressedTotal(file);
  const what = `image ${formatReference(ref)}: ${file.name}`;
  const first = await checkVerified(path, file.id, file.size);
  if (first === "valid") {
    opts.onProgress?.({ file: file.name, doneBytes: total, totalBytes: total, state: "cached" });
    return { replaced: false, downloadedBytes: 0 };
  }
  return await withFileLock(store.layout.lockPath(file.id), async () => {
    const validity = await checkVerified(path, file.id, file.size);
    if (validity === "valid") {
      opts.onProgress?.({ file: file.name, doneBytes: total, totalBytes: total, state: "cached" });
      return { replaced: false, downloadedBytes: 0 };
    }
    if (validity === "changed") {
      opts.log.warn("cached image file changed since it was verified; pulling it again", {
        image: formatReference(ref),
        file: file.name,
        path,
      });
      await removeVerified(path);
    }
    const downloadedBytes = file.parts.length === 1 && file.parts[0].offset === 0
      ? await fetchWhole(client, store, ref, file, opts, what)
      : await fetchChunked(client, store, ref, file, opts, what);
    opts.onProgress?.({ file: file.name, doneBytes: total, totalBytes: total, state: "verified" });
    return { replaced: validity === "changed", downloadedBytes };
  });
}

function partWhat(what: string, part: FilePart): string {
  return `${what}: layer ${part.layer.digest}`;
}

async function fetchWhole(
  client: RegistryClient,
  store: ImageStore,
  ref: ImageReference,
  file: FileEntry,
  opts: EnsureFileOptions,
  what: string,
): Promise<number> {
  const part = file.parts[0];
  const tmp = tempPath(store.layout.tmpDir, digestHex(file.id));
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
    });
    await unpackPart(stream, handle, part, { what: partWhat(what, part) });
    await handle.syncData();
    handle.close();
    await Deno.rename(tmp, store.layout.filePath(file.id));
    await recordVerified(store.layout.filePath(file.id), file.id);
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
  store: ImageStore,
  ref: ImageReference,
  file: FileEntry,
  opts: EnsureFileOptions,
  what: string,
): Promise<number> {
  const dir = store.layout.partialDir(file.id);
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
  const worker = async () => {
    for (let next = queue.shift(); next && !failure; next = queue.shift()) {
      const { p, i } = next;
      const handle = await Deno.open(dataPath, { read: true, write: true });
      let got = 0;
      try {
        const stream = blobStream(client, ref, p.layer, {
          signal: abort.signal,
          onBytes: (n) => {
            got += n;
            report(n);
          },
        });
        // A chunk not marked done may hold bytes of an interrupted attempt: write it densely.
        await unpackPart(stream, handle, p, { what: partWhat(what, p), dense: resumed });
        await handle.syncData();
        await markDone(i);
      } catch (err) {
        report(-got);
        failure ??= err;
        abort.abort(err);
      } finally {
        handle.close();
      }
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_CONCURRENCY, queue.length));
  try {
    await Promise.all(Array.from({ length: n }, worker));
    await saving;
  } finally {
    opts.signal.removeEventListener("abort", onOuterAbort);
  }
  if (failure) {
    throw withContext(failure, what);
  }
  if (done.size !== file.parts.length) throw new Error(`${what}: chunks missing after download`);
  const final = store.layout.filePath(file.id);
  try {
    await Deno.rename(dataPath, final);
    await recordVerified(final, file.id);
    await Deno.remove(dir, { recursive: true });
  } catch (err) {
    throw new Error(`${what}: moving the assembled file into place: ${messageOf(err)}`);
  }
  return downloaded;
}
