// VM image pull throughput and memory against the real local registry, beside real
// baselines measured in the same run. The synthetic disk (default 8 GiB; BENCH_IMAGE_GIB)
// is pushed in both forms (image_world.ts); then, in rounds (BENCH_IMAGE_RUNS, default 3),
// each contender in turn on a cold page cache (A B C … A B C …):
// - ours: `main.ts image pull` of the single-gzip form and of the chunked form (both
//   digests verified, sparse file written and fsync'd), with the agent's runtime flags;
// - the upstream-style Go puller (bench/go_puller: oras-go v2 copy to an OCI layout store,
//   then pgzip, sha256 of the uncompressed stream, 64 KiB sparse writes), and the same
//   decompressing straight from the HTTP body (-stream);
// - `curl blob | pigz -dc | openssl dgst -sha256` (no compressed digest, nothing written).
// Reported as GB/s of uncompressed output (median), as a ratio to each baseline, with CPU
// seconds and peak RSS. Then the push figures (image_push.ts) and warm validation.

import { START_FLAGS } from "./common.ts";
import type { BenchResult } from "./common.ts";
import { dropCaches, medianRun, type Timed, timed } from "./timed.ts";
import { goPuller } from "./go_puller.ts";
import { type ImageBenchWorld, imageBenchWorld } from "./image_world.ts";
import { benchImagePush } from "./image_push.ts";
import { warmValidationMs } from "./image_warm.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Contender {
  name: string;
  run(round: number): Promise<Timed>;
}

function contenders(world: ImageBenchWorld, go: string): Contender[] {
  const host = world.registry.host;
  const out = (tag: string, round: number) => `${world.dir}/out-${tag}-${round}`;
  const after = async (path: string, r: Timed) => {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    return r;
  };
  const ours = (tag: string) => async (round: number) => {
    const cache = out(tag, round);
    const args = ["run", ...START_FLAGS, MAIN, "image", "pull", `${host}/bench/vm:${tag}`];
    return after(cache, await timed([Deno.execPath(), ...args, "--cache-dir", cache]));
  };
  const goRun = (stream: boolean) => async (round: number) => {
    const dir = out(stream ? "go-stream" : "go", round);
    const args = ["-ref", `${host}/bench/vm:single`, "-out", dir, ...(stream ? ["-stream"] : [])];
    return after(dir, await timed([go, ...args]));
  };
  const url = `http://${host}/v2/bench/vm/blobs/${world.diskLayer.digest}`;
  return [
    { name: "ours, single-gzip", run: ours("single") },
    { name: "ours, chunked", run: ours("chunked") },
    { name: "Go puller", run: goRun(false) },
    { name: "Go puller, stream", run: goRun(true) },
    {
      name: "pigz pipeline",
      run: () =>
        timed([
          "bash",
          "-c",
          `set -o pipefail; curl -sf '${url}' | pigz -dc | openssl dgst -sha256`,
        ]),
    },
  ];
}

/** Every contender once per round, each on a cold cache; the median run of each. */
async function measure(list: Contender[], rounds: number): Promise<Map<string, Timed>> {
  const runs = new Map<string, Timed[]>(list.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of list) {
      await dropCaches();
      const r = await c.run(round);
      console.error(
        `image bench: round ${round + 1}: ${c.name}: ${r.seconds.toFixed(2)} s, ` +
          `${r.cpuSeconds.toFixed(2)} CPU s, ${(r.rss / 1e6).toFixed(0)} MB`,
      );
      runs.get(c.name)!.push(r);
    }
  }
  return new Map([...runs].map(([k, v]) => [k, medianRun(v)]));
}

const describe = (r: Timed, gb: number) =>
  `${(gb / r.seconds).toFixed(2)} GB/s, ${r.cpuSeconds.toFixed(1)} CPU s, ` +
  `${(r.rss / 1e6).toFixed(0)} MB peak RSS`;

export async function benchImagePull(): Promise<BenchResult[]> {
  const gib = Number(Deno.env.get("BENCH_IMAGE_GIB") ?? "8");
  const rounds = Number(Deno.env.get("BENCH_IMAGE_RUNS") ?? "3");
  const go = await goPuller();
  const world = await imageBenchWorld(gib);
  try {
    const gb = world.bytes / 1e9;
    const m = await measure(contenders(world, go), rounds);
    const s = m.get("ours, single-gzip")!;
    const c = m.get("ours, chunked")!;
    const goFile = m.get("Go puller")!;
    const goStream = m.get("Go puller, stream")!;
    const pigz = m.get("pigz pipeline")!;
    const rate = (r: Timed) => gb / r.seconds;
    const vs = (name: string, r: Timed, base: Timed, what: string, factor: number) => ({
      name,
      value: rate(r) / rate(base),
      unit: "x",
      baseline: rate(base),
      baselineWhat: `${what}: ${describe(base, gb)}; ours ${describe(r, gb)}`,
      target: factor > 0 ? `>= ${factor}x` : "reported",
      met: factor > 0 ? rate(r) >= factor * rate(base) : true,
    });
    const results: BenchResult[] = [
      vs(`pull, single-gzip form vs Go puller (${gib} GiB)`, s, goFile, "Go puller", 1.0),
      vs(
        `pull, single-gzip form vs Go puller streaming (${gib} GiB)`,
        s,
        goStream,
        "Go, stream",
        0,
      ),
      vs(`pull, single-gzip form vs pigz pipeline (${gib} GiB)`, s, pigz, "curl|pigz|openssl", 0),
      vs(`pull, chunked form vs our single-gzip (${gib} GiB)`, c, s, "ours, single-gzip", 1.3),
      vs(`pull, chunked form vs Go puller (${gib} GiB)`, c, goFile, "Go puller", 0),
    ];
    const peak = Math.max(s.rss, c.rss) / 1e6;
    results.push({
      name: "peak RSS during a pull (either form)",
      value: peak,
      unit: "MB",
      baseline: goFile.rss / 1e6,
      baselineWhat: "Go puller",
      target: "< 150 MB",
      met: peak < 150,
    });
    results.push(...await benchImagePush(world, rounds));
    const warm = await warmValidationMs(world.dir);
    results.push({
      name: "warm validation of a cached 64 GiB image",
      value: warm,
      unit: "ms",
      baseline: 0,
      baselineWhat: "none (stat only)",
      target: "< 50 ms",
      met: warm < 50,
    });
    return results;
  } finally {
    await world.close();
  }
}

if (import.meta.main) {
  for (const r of await benchImagePull()) console.log(JSON.stringify(r));
}
