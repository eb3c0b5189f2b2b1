// Garbage collection of the image store: removes images unused for longer than a given
// time, and least-recently-used images while free space is below a threshold — never an
// image with a lease (in use by a pod) or one being pulled right now. Also clears what
// interrupted runs left: orphaned files, half-finished (partial) downloads and temp files
// of dead processes, but never what a pull still running (here or in another process,
// pull_marks.ts) is making.
// `image prune` runs it once; the agent runs it periodically (startImageGc).

import { posix } from "node:path";
import { statfs } from "node:fs/promises";
import { type ImageRecord, type ImageStore } from "./store.ts";
import { freeBytes, RECORD_SUFFIX, sweepTemps } from "./store_fs.ts";
import { digestHex } from "../format/digest.ts";
import { livePulls } from "./pull_marks.ts";
import type { Logger } from "../../telemetry/log.ts";
import { silentLogger } from "../../telemetry/log.ts";

export interface PruneOptions {
  /** Remove images whose last use is older than this (ms). Undefined: keep on age. */
  unusedForMs?: number;
  /** Keep removing LRU images (not in use) while free bytes are below this. */
  minFreeBytes?: number;
  /** Manifest digests that must stay (e.g. pulls in progress). */
  keep?: Set<string>;
  /**
   * Leftovers of finished or killed pulls (orphaned files, partial downloads) younger than
   * this stay (ms; default 0: all go). Those of running pulls always stay.
   */
  leftoverGraceMs?: number;
  now?: number;
  log?: Logger;
}

export interface PruneResult {
  removed: { manifestDigest: string; references: string[]; bytes: number }[];
  keptInUse: string[];
  leftoversRemoved: number;
}

async function allocated(store: ImageStore, record: ImageRecord): Promise<number> {
  let n = 0;
  for (const f of record.files) {
    try {
      n += ((await Deno.stat(store.layout.filePath(f.id))).blocks ?? 0) * 512;
    } catch {
      // already gone
    }
  }
  return n;
}

async function removeWithRefs(store: ImageStore, record: ImageRecord): Promise<string[]> {
  const refs = (await store.listRefs()).filter((r) => r.manifestDigest === record.manifestDigest);
  for (const r of refs) await Deno.remove(store.layout.refPath(r.reference)).catch(() => {});
  await store.removeImage(record.manifestDigest);
  return refs.map((r) => r.reference);
}

/**
 * Files and partial downloads that no image record and no running pull refers to, older
 * than the grace period.
 */
async function sweepLeftovers(store: ImageStore, graceMs: number, now: number): Promise<number> {
  const images = await store.listImages();
  const running = new Set((await livePulls(store.layout.root)).flatMap((m) => m.files));
  const wanted = new Set(
    [...images.flatMap((r) => r.files.map((f) => f.id)), ...running].map(digestHex),
  );
  let removed = 0;
  const old = async (path: string) => {
    const st = await Deno.stat(path).catch(() => undefined);
    return st !== undefined && now - (st.mtime?.getTime() ?? now) > graceMs;
  };
  const filesDir = posix.join(store.layout.root, "files", "sha256");
  for await (const e of Deno.readDir(filesDir)) {
    const hex = e.name.endsWith(RECORD_SUFFIX) ? e.name.slice(0, -RECORD_SUFFIX.length) : e.name;
    if (wanted.has(hex)) continue;
    if (graceMs > 0 && !(await old(posix.join(filesDir, e.name)))) continue;
    await Deno.remove(posix.join(filesDir, e.name)).catch(() => {});
    removed++;
  }
  const partial = posix.join(store.layout.root, "partial");
  for await (const e of Deno.readDir(partial)) {
    const dir = posix.join(partial, e.name);
    if (running.has(`sha256:${e.name}`)) continue;
    if (graceMs > 0 && !(await old(posix.join(dir, "state.json")))) continue;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    removed++;
  }
  removed += await sweepTemps(store.layout.tmpDir);
  return removed;
}

export async function pruneImages(
  store: ImageStore,
  opts: PruneOptions = {},
): Promise<PruneResult> {
  const log = opts.log ?? silentLogger;
  const now = opts.now ?? Date.now();
  const leased = new Set((await store.leases()).map((l) => l.manifestDigest));
  const keep = opts.keep ?? new Set<string>();
  const images = (await store.listImages())
    .sort((a, b) => Date.parse(a.lastUsedAt) - Date.parse(b.lastUsedAt));
  const result: PruneResult = { removed: [], keptInUse: [], leftoversRemoved: 0 };
  const removable = images.filter((r) => {
    const inUse = leased.has(r.manifestDigest) || keep.has(r.manifestDigest);
    if (inUse) result.keptInUse.push(r.manifestDigest);
    return !inUse;
  });
  const remove = async (r: ImageRecord, why: string) => {
    // Re-read the leases right before removing: a pod may have taken the image meanwhile.
    if ((await store.leases()).some((l) => l.manifestDigest === r.manifestDigest)) return;
    const bytes = await allocated(store, r);
    const references = await removeWithRefs(store, r);
    result.removed.push({ manifestDigest: r.manifestDigest, references, bytes });
    log.info("image removed", { manifest: r.manifestDigest, references, bytes, why });
  };
  const left: ImageRecord[] = [];
  for (const r of removable) {
    if (opts.unusedForMs !== undefined && now - Date.parse(r.lastUsedAt) >= opts.unusedForMs) {
      await remove(r, "unused");
    } else {
      left.push(r);
    }
  }
  if (opts.minFreeBytes !== undefined) {
    for (const r of left) {
      if ((await freeBytes(store.layout.root)) >= opts.minFreeBytes) break;
      await remove(r, "low disk space");
    }
  }
  result.leftoversRemoved = await sweepLeftovers(store, opts.leftoverGraceMs ?? 0, now);
  return result;
}

export interface GcSchedule {
  intervalMs: number;
  /** Remove images unused for this long (ms); undefined: only when space runs low. */
  unusedForMs?: number;
  /** Share of the file system (0..1) to keep free. */
  minFreeRatio: number;
  /** Leftovers of killed pulls stay this long (ms), for an agent restart to resume them. */
  leftoverGraceMs?: number;
}

const AGENT_LEFTOVER_GRACE = 60 * 60 * 1000;

/** Runs pruneImages now and then every `intervalMs` until the returned stop() is called. */
export function startImageGc(
  store: ImageStore,
  schedule: GcSchedule,
  inProgress: () => Set<string>,
  log: Logger,
): () => void {
  let running = false;
  let stopped = false;
  const tick = async () => {
    if (running || stopped) return;
    running = true;
    try {
      const st = await statfs(store.layout.root);
      const minFreeBytes = Math.floor(st.blocks * st.bsize * schedule.minFreeRatio);
      await pruneImages(store, {
        unusedForMs: schedule.unusedForMs,
        minFreeBytes,
        keep: inProgress(),
        leftoverGraceMs: schedule.leftoverGraceMs ?? AGENT_LEFTOVER_GRACE,
        log,
      });
    } catch (err) {
      log.warn("image garbage collection failed", { error: err });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(tick, schedule.intervalMs);
  void tick();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
