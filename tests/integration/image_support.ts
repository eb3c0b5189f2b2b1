// Shared helpers of the image tests: small synthetic guest files (a sparse disk that is
// mostly zeros with random and compressible regions), hashing files, and a registry plus
// store world per test.

import { createHash } from "node:crypto";
import { type Registry, startRegistry } from "../harness/registry.ts";
import { makeRunDir, releaseRunDir } from "../harness/run_dir.ts";

export const MiB = 1 << 20;
export const FAST_RETRY = { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 };

/** Writes `size` bytes: holes, with 1 MiB random and 1 MiB text regions at a few offsets. */
export async function makeSparseDisk(path: string, size: number, seed = 1): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await file.truncate(size);
    const regions = [0, 5 * MiB + 123, Math.floor(size / 2), size - MiB];
    for (const [i, at] of regions.entries()) {
      const buf = new Uint8Array(MiB);
      if (i % 2 === 0) crypto.getRandomValues(buf.subarray(0, 65536));
      else {buf.set(
          new TextEncoder().encode(`seed ${seed} block ${i} `.repeat(40000)).subarray(0, MiB),
        );}
      buf[0] = seed;
      await file.seek(at, Deno.SeekMode.Start);
      await file.write(buf);
    }
  } finally {
    file.close();
  }
}

/**
 * A sparse disk (makeSparseDisk) with 512 KiB of random data every 3 MiB from 2 MiB on, so
 * its chunks are big enough to be slow through a throttled proxy.
 */
export async function makeBusyDisk(path: string, size: number, seed: number): Promise<void> {
  await makeSparseDisk(path, size, seed);
  const f = await Deno.open(path, { write: true });
  try {
    for (let at = 2 * MiB; at < size; at += 3 * MiB) {
      await f.seek(at, Deno.SeekMode.Start);
      await f.write(randomBytes(512 * 1024));
    }
  } finally {
    f.close();
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return "sha256:" + hash.digest("hex");
}

/** Bytes actually allocated on disk (st_blocks * 512). */
export async function allocatedBytes(path: string): Promise<number> {
  return ((await Deno.stat(path)).blocks ?? 0) * 512;
}

export interface ImageWorld {
  dir: string;
  registry: Registry;
  close(): Promise<void>;
}

export async function imageWorld(prefix: string): Promise<ImageWorld> {
  const dir = await makeRunDir(prefix);
  const registry = await startRegistry({ dir: `${dir}/registry` });
  return {
    dir,
    registry,
    close: async () => {
      await registry.stop();
      await releaseRunDir(dir);
    },
  };
}

/** Names of entries under `dir`, recursively, relative to it. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    try {
      for await (const e of Deno.readDir(d)) {
        const rel = prefix ? `${prefix}/${e.name}` : e.name;
        if (e.isDirectory) await walk(`${d}/${e.name}`, rel);
        else out.push(rel);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  };
  await walk(dir, "");
  return out.sort();
}

/** `n` random bytes (getRandomValues gives at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

export const HW_MODEL = btoa("bplist00-hardware-model-for-tests");
export const MACHINE_ID = btoa("bplist00-machine-id-for-tests");

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Runs `main.ts image ARGS` in a child process with exactly `env`; exit code and output. */
export async function imageCli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "image", ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}
