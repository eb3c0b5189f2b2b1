// Making one guest file present and verified in the store. A file already verified (by
// stat against its record) costs nothing; one changed since is discarded and fetched again
// (download_file.ts does the verified download). Concurrent callers in this process share
// one download; a file lock per file keeps two processes from fetching it at once.

import {
  compressedTotal,
  downloadFile,
  type FileProgress,
  type FileTarget,
} from "./download_file.ts";
import type { FileEntry } from "../format/layout.ts";
import { formatReference, type ImageReference } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { SingleFlight } from "../store/singleflight.ts";
import type { ImageStore } from "../store/store.ts";
import { checkVerified, removeVerified, withFileLock } from "../store/store_fs.ts";
import type { Logger } from "../../telemetry/log.ts";

export type { FileProgress };

export interface EnsureFileOptions {
  signal: AbortSignal;
  /** Reference as the user wrote it, for messages (default: the pinned reference). */
  label?: string;
  concurrency?: number;
  log: Logger;
  onProgress?: (p: FileProgress) => void;
}

export interface EnsureFileResult {
  replaced: boolean;
  downloadedBytes: number;
}

const fileFlights = new SingleFlight<EnsureFileResult, FileProgress>();

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
  const what = `image ${opts.label ?? formatReference(ref)}: ${file.name}`;
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
    const target: FileTarget = {
      finalPath: path,
      tmpDir: store.layout.tmpDir,
      partialDir: store.layout.partialDir(file.id),
      record: true,
    };
    const downloadedBytes = await downloadFile(client, ref, file, target, opts, what);
    opts.onProgress?.({ file: file.name, doneBytes: total, totalBytes: total, state: "verified" });
    return { replaced: validity === "changed", downloadedBytes };
  });
}
