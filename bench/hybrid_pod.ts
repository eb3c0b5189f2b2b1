// Hybrid pods: create to Ready of a VM pod with a Docker sidecar beside the same VM pod
// without one, alternating, p50 of 5 each, on the real test world (control plane, registry,
// dockerd, QEMU guest). The difference is what the sidecar path costs a pod's start.

import { startVmWorld } from "../tests/support/vm_world.ts";
import { testPod } from "../tests/support/world.ts";
import { type BenchResult, median } from "./common.ts";

const RUNS = 5;
const NODE = "bench-hybrid";

export async function benchHybridPods(): Promise<BenchResult[]> {
  const w = await startVmWorld({ node: NODE, docker: true });
  try {
    const pod = (name: string, sidecar: boolean) =>
      testPod(name, NODE, {
        grace: 5,
        containers: [
          { name: "vm", image: w.image, resources: { requests: { cpu: "1", memory: "256Mi" } } },
          ...(sidecar
            ? [{ name: "side", image: w.busybox!, command: ["sh", "-c", "exec sleep 3600"] }]
            : []),
        ],
      });
    const timeToReady = async (name: string, sidecar: boolean) => {
      const t0 = performance.now();
      await w.create(pod(name, sidecar));
      await w.waitReady(name);
      const ms = performance.now() - t0;
      await w.remove(name);
      return ms;
    };
    // One hybrid pod first, so the sidecar image is pulled before anything is timed.
    await timeToReady("warm-up", true);
    const plain: number[] = [];
    const hybrid: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      plain.push(await timeToReady(`plain-${i}`, false));
      hybrid.push(await timeToReady(`hybrid-${i}`, true));
    }
    const overhead = (median(hybrid) - median(plain)) / 1000;
    return [{
      name: `hybrid pod (VM + sidecar) create to Ready (p50 of ${RUNS})`,
      value: median(hybrid) / 1000,
      unit: "s",
      baseline: median(plain) / 1000,
      baselineWhat: "the same VM pod without the sidecar, alternating in the same run",
      target: "sidecar overhead <= 1 s",
      met: overhead <= 1,
    }];
  } finally {
    await w.stop();
  }
}

if (import.meta.main) {
  for (const r of await benchHybridPods()) console.log(JSON.stringify(r));
}
