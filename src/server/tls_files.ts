// The kubelet API's TLS material (serving certificate and key, and the CA that verifies client
// certificates), read from files and re-read when they change so a rotated certificate is
// served without a restart. Polls rather than using a file watcher: certificates are often
// replaced by symlink swaps (Kubernetes secrets) or renames, which watchers report unevenly
// across macOS and Linux, and a poll every few seconds costs nothing.

import { createSecureContext } from "node:tls";
import type { Logger } from "../telemetry/log.ts";

export interface TlsPaths {
  certPath: string;
  keyPath: string;
  /** CA bundle verifying client certificates; undefined when clients are not verified. */
  caPath?: string;
}

export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

/** Reads and checks the files; the error names the file and what is wrong with it. */
export async function readTlsMaterial(paths: TlsPaths): Promise<TlsMaterial> {
  const read = async (what: string, path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      throw new Error(`kubelet API: cannot read the ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const material: TlsMaterial = {
    cert: await read("serving certificate", paths.certPath),
    key: await read("serving key", paths.keyPath),
    ca: paths.caPath ? await read("client CA", paths.caPath) : undefined,
  };
  try {
    createSecureContext(material);
  } catch (err) {
    throw new Error(
      `kubelet API: unusable TLS files (certificate ${paths.certPath}, key ${paths.keyPath}` +
        `${paths.caPath ? `, client CA ${paths.caPath}` : ""}): ${(err as Error).message}`,
    );
  }
  return material;
}

export interface TlsWatcher {
  stop(): void;
}

/**
 * Calls `onChange` with the new material whenever any file's content changes and the new set
 * is usable; a broken intermediate state (half-written file, key not matching) is logged
 * once and the old material stays in use.
 */
export function watchTlsFiles(
  paths: TlsPaths,
  current: TlsMaterial,
  onChange: (material: TlsMaterial) => void,
  log: Logger,
  intervalMs = 5_000,
): TlsWatcher {
  let last = current;
  let lastProblem = "";
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const next = await readTlsMaterial(paths);
      lastProblem = "";
      if (next.cert === last.cert && next.key === last.key && next.ca === last.ca) return;
      last = next;
      onChange(next);
      log.info("kubelet API: TLS files changed, now serving the new certificate", {
        certPath: paths.certPath,
        caPath: paths.caPath,
      });
    } catch (err) {
      const problem = (err as Error).message;
      if (problem !== lastProblem) {
        log.warn(`${problem}; still serving the previous certificate`);
        lastProblem = problem;
      }
    } finally {
      busy = false;
    }
  }, intervalMs);
  return { stop: () => clearInterval(timer) };
}
