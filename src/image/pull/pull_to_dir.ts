// `image pull REF -o DIR`: the image unpacked straight into a directory instead of the
// store, as the Go system's tools lay it out: disk.img, aux.img, config.json (the config
// document exactly as published) — and for Linux guests vmlinuz, initrd.img and a
// `cmdline` file. Same verified download path as the store; a chunked disk interrupted
// here resumes from DIR/.<name>.partial on the next run.

import { posix } from "node:path";
import { downloadFile, type FileProgress } from "./download_file.ts";
import { withContext } from "../../util/errors.ts";
import type { Platform } from "../format/manifest.ts";
import { checkFreeSpace, defaultPlatform, resolveImage } from "./pull.ts";
import { formatReference, type ImageReference, withDigest } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { writeFileAtomic } from "../store/store_fs.ts";
import type { Logger } from "../../telemetry/log.ts";
import { silentLogger } from "../../telemetry/log.ts";

export interface PullToDirOptions {
  platform?: Platform;
  signal?: AbortSignal;
  concurrency?: number;
  onProgress?: (p: FileProgress) => void;
  log?: Logger;
}

export interface PulledDir {
  manifestDigest: string;
  os: "darwin" | "linux";
  /** Names of the files written into the directory. */
  files: string[];
}

export async function pullToDir(
  client: RegistryClient,
  ref: ImageReference,
  dir: string,
  opts: PullToDirOptions = {},
): Promise<PulledDir> {
  const what = `image ${formatReference(ref)}`;
  const log = opts.log ?? silentLogger;
  const resolved = await resolveImage(client, ref, opts.platform ?? defaultPlatform());
  const { layout } = resolved;
  await Deno.mkdir(dir, { recursive: true });
  await checkFreeSpace(dir, layout, 1 << 30, what);
  const pinned = withDigest(ref, resolved.manifestDigest);
  const signal = opts.signal ?? new AbortController().signal;
  try {
    await Promise.all(layout.files.map((file) =>
      downloadFile(
        client,
        pinned,
        file,
        {
          finalPath: posix.join(dir, file.name),
          tmpDir: dir,
          partialDir: posix.join(dir, `.${file.name}.partial`),
          record: false,
        },
        { signal, concurrency: opts.concurrency, log, onProgress: opts.onProgress },
        `${what}: ${file.name}`,
      )
    ));
    await writeFileAtomic(posix.join(dir, "config.json"), layout.configBytes);
    const written = [...layout.files.map((f) => f.name), "config.json"];
    if (layout.linux) {
      await writeFileAtomic(posix.join(dir, "cmdline"), layout.linux.cmdline + "\n");
      written.push("cmdline");
    }
    return { manifestDigest: resolved.manifestDigest, os: layout.os, files: written };
  } catch (err) {
    throw withContext(err, what);
  }
}
