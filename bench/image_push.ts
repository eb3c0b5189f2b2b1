// VM image push throughput beside `pigz -6` on all cores over the same disk (compression
// only, written to a file), in rounds on a cold page cache. Ours is `main.ts image push` of
// the single-gzip form: compress (the same gzip, one member, level 6), hash both sides,
// upload; each round into a new repository so every blob is really uploaded.

import { START_FLAGS } from "./common.ts";
import type { BenchResult } from "./common.ts";
import { dropCaches, medianRun, type Timed, timed } from "./timed.ts";
import { DARWIN, type ImageBenchWorld } from "./image_world.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export async function benchImagePush(
  world: ImageBenchWorld,
  rounds: number,
): Promise<BenchResult[]> {
  const ours: Timed[] = [];
  const pigz: Timed[] = [];
  const gb = world.bytes / 1e9;
  for (let round = 0; round < rounds; round++) {
    await dropCaches();
    ours.push(
      await timed([
        Deno.execPath(),
        "run",
        ...START_FLAGS,
        MAIN,
        "image",
        "push",
        `${world.registry.host}/bench/push${round}:single`,
        "--disk",
        world.disk,
        "--aux",
        world.aux,
        "--hardware-model",
        DARWIN.hardwareModelData,
        "--machine-id",
        DARWIN.machineIdData,
        "--cache-dir",
        `${world.dir}/push-cache`,
      ]),
    );
    await dropCaches();
    const out = `${world.dir}/pigz.gz`;
    pigz.push(await timed(["bash", "-c", `pigz -6 -c '${world.disk}' > '${out}'`]));
    await Deno.remove(out);
    console.error(
      `image bench: round ${round + 1}: push ${ours.at(-1)!.seconds.toFixed(1)} s, ` +
        `pigz -6 ${pigz.at(-1)!.seconds.toFixed(1)} s`,
    );
  }
  const o = medianRun(ours);
  const p = medianRun(pigz);
  return [{
    name: "push, single-gzip form vs pigz -6",
    value: (gb / o.seconds) / (gb / p.seconds),
    unit: "x",
    baseline: gb / p.seconds,
    baselineWhat: `pigz -6 -c (all cores): ${(gb / p.seconds).toFixed(2)} GB/s, ` +
      `${p.cpuSeconds.toFixed(1)} CPU s, ${(p.rss / 1e6).toFixed(0)} MB; ours ` +
      `${(gb / o.seconds).toFixed(2)} GB/s, ${o.cpuSeconds.toFixed(1)} CPU s, ` +
      `${(o.rss / 1e6).toFixed(0)} MB`,
    target: ">= 1.0x",
    met: o.seconds <= p.seconds,
  }];
}
