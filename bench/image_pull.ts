// VM image pull throughput and memory, against the real local registry. A synthetic disk
// (default 8 GiB; BENCH_IMAGE_GIB to change) made of 1 MiB blocks: 60 % zeros, 25 %
// compressible text, 15 % random, is pushed in both forms. Then, each on a cold cache:
// - baseline: `curl blob | gzip -d | sha256sum` (single stream, no verification of the
//   compressed digest, nothing written to disk);
// - ours, existing single-gzip form: `main.ts image pull` (both digests verified, sparse
//   file written, fsync'd);
// - ours, chunked form, same command.
// Reported as GB/s of uncompressed output, with peak RSS (GNU time's %M) of our process.
// Also: warm validation of a cached 64 GiB sparse image (stat against the verification
// record), median of 5 lookups.

import { startRegistry } from "../tests/harness/registry.ts";
import { makeRunDir, releaseRunDir } from "../tests/harness/run_dir.ts";
import { RegistryClient } from "../src/image/registry/client.ts";
import { parseReference } from "../src/image/registry/reference.ts";
import { pushImage } from "../src/image/push/push.ts";
import { ImageStore } from "../src/image/store/store.ts";
import { recordVerified } from "../src/image/store/store_fs.ts";
import { sha256Of } from "../src/image/format/digest.ts";
import { START_FLAGS } from "./common.ts";
import type { BenchResult } from "./common.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const MiB = 1 << 20;

async function makeDisk(path: string, bytes: number): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.truncate(bytes);
  const text = new TextEncoder().encode(
    "kernel: usb 1-1: new high-speed USB device number 2 using xhci_hcd\n".repeat(16_000),
  ).subarray(0, MiB);
  const random = new Uint8Array(MiB);
  for (let i = 0; i < bytes / MiB; i++) {
    const kind = i % 20;
    if (kind < 12) continue; // zeros: left as a hole
    let block: Uint8Array;
    if (kind < 17) block = text;
    else {
      for (let j = 0; j < MiB; j += 65536) crypto.getRandomValues(random.subarray(j, j + 65536));
      block = random;
    }
    await file.seek(i * MiB, Deno.SeekMode.Start);
    await file.write(block);
  }
  file.close();
}

/** Runs a command under GNU time; returns wall seconds, peak RSS bytes and stdout. */
async function timed(cmd: string[]): Promise<{ seconds: number; rss: number; stdout: string }> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %M", ...cmd],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  const m = /TIME ([\d.]+) (\d+)/.exec(err);
  if (!out.success || !m) throw new Error(`${cmd.join(" ")} failed: ${err.slice(-2000)}`);
  return {
    seconds: Number(m[1]),
    rss: Number(m[2]) * 1024,
    stdout: new TextDecoder().decode(out.stdout),
  };
}

async function warmValidationMs(dir: string): Promise<number> {
  const store = await ImageStore.open(`${dir}/warm-cache`);
  const size = 64 * 1024 * MiB;
  const id = sha256Of("bench 64 GiB disk");
  const path = store.layout.filePath(id);
  const f = await Deno.open(path, { write: true, create: true });
  await f.truncate(size);
  f.close();
  await recordVerified(path, id);
  const auxId = sha256Of("bench aux");
  await Deno.writeFile(store.layout.filePath(auxId), new Uint8Array(1024));
  await recordVerified(store.layout.filePath(auxId), auxId);
  const manifestDigest = sha256Of("bench manifest");
  const now = new Date().toISOString();
  await store.writeImage({
    manifestDigest,
    references: ["bench/warm:1"],
    os: "darwin",
    form: "agoda",
    configDigest: sha256Of("bench config"),
    files: [
      { role: "disk", name: "disk.img", id, size },
      { role: "aux", name: "aux.img", id: auxId, size: 1024 },
    ],
    compressedSize: 0,
    pulledAt: now,
    lastUsedAt: now,
  });
  await store.writeRef({ reference: "bench/warm:1", manifestDigest, updatedAt: now });
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const img = await store.lookup("bench/warm:1");
    times.push(performance.now() - t);
    if (!img) throw new Error("warm lookup failed");
  }
  times.sort((a, b) => a - b);
  return times[2];
}

export async function benchImagePull(): Promise<BenchResult[]> {
  const gib = Number(Deno.env.get("BENCH_IMAGE_GIB") ?? "8");
  const bytes = Math.round(gib * 1024) * MiB;
  const dir = await makeRunDir("vzk-bench-image-");
  const registry = await startRegistry({ dir: `${dir}/registry` });
  try {
    console.error(`image bench: writing a ${gib} GiB synthetic disk`);
    const disk = `${dir}/disk.img`;
    const aux = `${dir}/aux.img`;
    await makeDisk(disk, bytes);
    await Deno.writeFile(aux, new Uint8Array(MiB));
    const client = new RegistryClient();
    const darwin = { hardwareModelData: btoa("hw"), machineIdData: btoa("id") };
    const inputs = { os: "darwin" as const, files: { disk, aux }, darwin };
    console.error("image bench: pushing both forms");
    let t = performance.now();
    const single = await pushImage(
      client,
      parseReference(`${registry.host}/bench/vm:single`),
      inputs,
      {
        tmpDir: `${dir}/tmp`,
      },
    );
    const pushSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    await pushImage(client, parseReference(`${registry.host}/bench/vm:chunked`), inputs, {
      tmpDir: `${dir}/tmp`,
      chunked: true,
    });
    client.close();
    await Deno.remove(disk);
    const diskLayer = single.manifest.layers.find((l) =>
      l.annotations?.["org.opencontainers.image.title"] === "disk.img"
    )!;
    const gb = bytes / 1e9;

    console.error("image bench: baseline curl | gzip -d | sha256sum");
    const url = `http://${registry.host}/v2/bench/vm/blobs/${diskLayer.digest}`;
    const base = await timed(["bash", "-c", `curl -sf '${url}' | gzip -d | sha256sum`]);
    const ours = async (tag: string) => {
      const cache = `${dir}/cache-${tag}`;
      const r = await timed([
        Deno.execPath(),
        "run",
        ...START_FLAGS, // the CLI is measured with the runtime flags the agent runs with
        MAIN,
        "image",
        "pull",
        `${registry.host}/bench/vm:${tag}`,
        "--cache-dir",
        cache,
      ]);
      await Deno.remove(cache, { recursive: true });
      return r;
    };
    console.error("image bench: our pull, single-gzip form");
    const s = await ours("single");
    console.error("image bench: our pull, chunked form");
    const c = await ours("chunked");
    const baseRate = gb / base.seconds;
    const warm = await warmValidationMs(dir);
    const peak = Math.max(s.rss, c.rss) / 1e6;
    return [
      {
        name: `pull, existing single-gzip form (${gib} GiB)`,
        value: gb / s.seconds,
        unit: "GB/s",
        baseline: baseRate,
        baselineWhat: "curl blob | gzip -d | sha256sum",
        target: ">= 0.9x baseline",
        met: gb / s.seconds >= 0.9 * baseRate,
      },
      {
        name: `pull, chunked form (${gib} GiB)`,
        value: gb / c.seconds,
        unit: "GB/s",
        baseline: baseRate,
        baselineWhat: "curl blob | gzip -d | sha256sum",
        target: ">= 1.6x baseline",
        met: gb / c.seconds >= 1.6 * baseRate,
      },
      {
        name: "peak RSS during a pull",
        value: peak,
        unit: "MB",
        baseline: base.rss / 1e6,
        baselineWhat: "largest process of the baseline pipeline",
        target: "< 300 MB",
        met: peak < 300,
      },
      {
        name: "warm validation of a cached 64 GiB image",
        value: warm,
        unit: "ms",
        baseline: 0,
        baselineWhat: "none (stat only)",
        target: "< 50 ms",
        met: warm < 50,
      },
      {
        name: `push, existing single-gzip form (${gib} GiB)`,
        value: gb / pushSeconds,
        unit: "GB/s",
        baseline: 0,
        baselineWhat: "none",
        target: "reported",
        met: true,
      },
    ];
  } finally {
    await registry.stop();
    await releaseRunDir(dir);
  }
}

if (import.meta.main) {
  for (const r of await benchImagePull()) console.log(JSON.stringify(r));
}
