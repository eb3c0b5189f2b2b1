// VM pods on the qemu backend: pod create to Ready (p50 of 5) beside the same guest booted
// by a plain qemu command and reached by ssh; and delete to every resource freed, against
// the grace period. Real control plane, registry and agent.

import { startControlPlane } from "../tests/harness/control_plane.ts";
import { startRegistry } from "../tests/harness/registry.ts";
import { testGuest } from "../tests/harness/guest.ts";
import { pushTestGuest } from "../tests/support/guest_image.ts";
import { adminClients, nodeConfig, testPod } from "../tests/support/world.ts";
import { startAgent } from "../src/agent.ts";
import { selectRuntime } from "../src/runtime/select.ts";
import { clusterAccess } from "../src/kube/objects.ts";
import { linkExists, removeBridge, tapName } from "../src/network/linux_bridge.ts";
import { waitForSsh } from "../src/guest/ssh.ts";
import { pidAlive } from "../src/vm/qemu/vm.ts";
import { silentLogger } from "../src/telemetry/log.ts";
import { median } from "./common.ts";
import type { BenchResult } from "./common.ts";

const RUNS = 5;
const GRACE = 10;

async function until(cond: () => Promise<boolean> | boolean, ms = 180_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("bench: timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The same guest under a plain qemu command (user networking), until ssh answers. */
async function baselineBoot(guest: Awaited<ReturnType<typeof testGuest>>): Promise<number> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const t0 = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-machine",
      "q35,accel=tcg",
      "-cpu",
      "max",
      "-m",
      "256M",
      "-smp",
      "1",
      "-nodefaults",
      "-display",
      "none",
      "-serial",
      "null",
      "-kernel",
      guest.kernel,
      "-initrd",
      guest.initrd,
      "-append",
      guest.cmdline,
      "-drive",
      `file=${guest.disk},if=virtio,format=raw,readonly=on`,
      "-netdev",
      `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`,
      "-device",
      "virtio-net-pci,netdev=n0",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const ssh = await waitForSsh({
      host: "127.0.0.1",
      port,
      credentials: { user: guest.rootUser, privateKeyPath: guest.privateKeyPath },
    }, 120_000);
    await ssh.exec(["true"]);
    ssh.close();
    return performance.now() - t0;
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

export async function benchVmPods(): Promise<BenchResult[]> {
  const guest = await testGuest();
  const cp = await startControlPlane();
  const regDir = await Deno.makeTempDir({ prefix: "vzk-bench-reg-" });
  const registry = await startRegistry({ dir: regDir });
  const bridge = `vzkb${Math.floor(Math.random() * 0xffff).toString(16)}`;
  try {
    const image = await pushTestGuest(guest, registry.host);
    const config = await nodeConfig(cp, "bench-vm", [
      "--max-vms=1",
      `--qemu-bridge=${bridge}`,
      "--qemu-subnet=10.250.7.0/24",
      "--qemu-nat=false",
    ], { VZ_SSH_USER: guest.rootUser, VZ_SSH_PRIVATE_KEY_PATH: guest.privateKeyPath });
    const log = silentLogger;
    const agent = await startAgent(config, {
      log,
      runtime: ({ clients, events, host }) =>
        selectRuntime(config, { events, host, log, ...clusterAccess(clients) }),
    });
    const admin = adminClients(cp);
    const read = (name: string) => admin.core.readNamespacedPod({ name, namespace: "default" });
    const create: number[] = [];
    const free: number[] = [];
    const baseline: number[] = [];
    try {
      for (let i = 0; i < RUNS; i++) {
        baseline.push(await baselineBoot(guest));
        const name = `bench-${i}`;
        const body = testPod(name, "bench-vm", {
          grace: GRACE,
          containers: [{
            name: "vm",
            image,
            resources: { requests: { cpu: "1", memory: "256Mi" } },
          }],
        });
        let t0 = performance.now();
        const created = await admin.core.createNamespacedPod({ namespace: "default", body });
        await until(async () =>
          (await read(name)).status?.conditions?.some((c) =>
            c.type === "Ready" && c.status === "True"
          ) ??
            false
        );
        create.push(performance.now() - t0);
        const uid = created.metadata!.uid!;
        const workDir = `${config.cacheDir}/vms/${uid}`;
        const pid = JSON.parse(await Deno.readTextFile(`${workDir}/vm.json`)).pid;
        const tap = await tapName(uid);
        t0 = performance.now();
        await admin.core.deleteNamespacedPod({ name, namespace: "default" });
        await until(async () =>
          !pidAlive(pid) && !(await linkExists(tap)) &&
          !(await Deno.stat(workDir).then(() => true, () => false)) &&
          (await read(name).then(() => false, () => true))
        );
        free.push(performance.now() - t0);
      }
    } finally {
      await agent.stop();
    }
    const overhead = (median(create) - median(baseline)) / 1000;
    return [
      {
        name: "VM pod create to Ready (p50 of 5)",
        value: median(create) / 1000,
        unit: "s",
        baseline: median(baseline) / 1000,
        baselineWhat: "same guest by a plain qemu command, reached by ssh",
        target: "overhead <= 1 s",
        met: overhead <= 1,
      },
      {
        name: "VM pod delete to all resources freed (p50 of 5)",
        value: median(free) / 1000,
        unit: "s",
        baseline: GRACE,
        baselineWhat: "the grace period",
        target: `<= grace + 2 s`,
        met: median(free) / 1000 <= GRACE + 2,
      },
    ];
  } finally {
    await registry.stop();
    await cp.stop();
    await removeBridge(bridge).catch(() => {});
    await Deno.remove(regDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  for (const r of await benchVmPods()) console.log(JSON.stringify(r));
}
