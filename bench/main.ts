// `deno task bench`: runs every benchmark and prints one report. Each number is shown beside
// a baseline measured on this machine in the same run, and the target it is judged by.

import "reflect-metadata";
import { benchNodeStart } from "./node_start.ts";
import { benchImagePull } from "./image_pull.ts";
import { benchVmPods } from "./vm_pod.ts";
import { benchKubeletApi } from "./kubelet_api.ts";
import { benchHybridPods } from "./hybrid_pod.ts";
import { benchProbeOverhead } from "./probe_overhead.ts";

import type { BenchResult } from "./common.ts";

const results: BenchResult[] = [];
results.push(...await benchNodeStart());
results.push(...await benchImagePull());
results.push(...await benchVmPods());
results.push(...await benchHybridPods());
results.push(...await benchProbeOverhead());
results.push(...await benchKubeletApi());

console.log("\nbenchmark results");
for (const r of results) {
  console.log(
    `  ${r.name}: ${r.value.toFixed(2)} ${r.unit}  (baseline ${r.baseline.toFixed(2)} ${r.unit}: ` +
      `${r.baselineWhat}; target ${r.target}: ${r.met ? "met" : "NOT met"})`,
  );
}
console.log(JSON.stringify({ results }, null, 2));
