// The agent process killed with SIGKILL while a hybrid pod runs (the VM and a Docker sidecar),
// then started again: the VM (a daemonized QEMU) and the sidecar are adopted, the pod stays
// Running on the same process, container and address, and no second dnsmasq, container or
// stray tap is left behind; deleting the pod then removes all of it.

import assert from "node:assert/strict";
import { startControlPlane } from "../harness/control_plane.ts";
import { startRegistry } from "../harness/registry.ts";
import { testGuest } from "../harness/guest.ts";
import { pushBusyboxImage, startDocker } from "../harness/docker.ts";
import { LABEL_NODE } from "../../src/containers/names.ts";
import { removeBridge, tapsOn } from "../../src/network/linux_bridge.ts";
import { pidAlive } from "../../src/vm/qemu/vm.ts";
import { adminClients, denoDirEnv, eventually, nodeEnv, testPod } from "../support/world.ts";
import { pushTestGuest } from "../support/guest_image.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const NODE = "sigkill-node";

function dnsmasqPids(bridge: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = (() => {
      try {
        return Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      } catch {
        return "";
      }
    })();
    if (cmd.startsWith("dnsmasq") || cmd.includes("/dnsmasq\0")) {
      if (cmd.includes(`--interface=${bridge}\0`)) pids.push(Number(e.name));
    }
  }
  return pids;
}

Deno.test({
  name: "agent SIGKILL: the running VM is adopted, nothing is duplicated or leaked",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const guest = await testGuest();
    const cp = await startControlPlane();
    const regDir = await Deno.makeTempDir({ prefix: "vzk-sigkill-reg-" });
    const registry = await startRegistry({ dir: regDir });
    const cache = await Deno.makeTempDir({ prefix: "vzk-sigkill-cache-" });
    const bridge = `vzks${Math.floor(Math.random() * 0xffff).toString(16)}`;
    const docker = await startDocker({ dir: `${regDir}/docker` });
    const containers = async () =>
      (await docker.docker([
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        `label=${LABEL_NODE}=${NODE}`,
      ])).stdout.split(/\s+/).filter(Boolean);
    const admin = adminClients(cp);
    const agents: Deno.ChildProcess[] = [];
    const spawnAgent = async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "--nodename",
          NODE,
          "--cache-dir",
          cache,
          `--qemu-bridge=${bridge}`,
          `--qemu-subnet=10.249.${Math.floor(Math.random() * 250) + 1}.0/24`,
          "--qemu-nat=false",
          "--max-vms=1",
          `--docker-network=${docker.network}`,
        ],
        env: {
          ...(await nodeEnv(cp, NODE)),
          PATH: Deno.env.get("PATH") ?? "",
          HOME: cache,
          ...denoDirEnv(),
          VZ_SSH_USER: guest.rootUser,
          VZ_SSH_PRIVATE_KEY_PATH: guest.privateKeyPath,
          DOCKER_HOST: docker.host,
        },
        clearEnv: true,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      agents.push(child);
      return child;
    };
    const read = () => admin.core.readNamespacedPod({ name: "survivor", namespace: "default" });
    const ready = (p: Awaited<ReturnType<typeof read>>) =>
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    try {
      const image = await pushTestGuest(guest, registry.host);
      const busybox = await pushBusyboxImage(docker, registry.host, regDir);
      const first = await spawnAgent();
      const pod = testPod("survivor", NODE, {
        grace: 5,
        containers: [
          { name: "vm", image, resources: { requests: { cpu: "1", memory: "256Mi" } } },
          {
            name: "side",
            image: busybox,
            command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
          },
        ],
      });
      const created = await admin.core.createNamespacedPod({ namespace: "default", body: pod });
      const before = await eventually("survivor Ready", async () => {
        const p = await read();
        return ready(p) && p;
      }, 180_000);
      const vmJson = `${cache}/vms/${created.metadata!.uid}/vm.json`;
      const qemuPid = JSON.parse(await Deno.readTextFile(vmJson)).pid;
      assert.equal(dnsmasqPids(bridge).length, 1);
      const sidecars = await containers();
      assert.equal(sidecars.length, 1, "one sidecar container");
      const sideStatus = before.status?.containerStatuses?.find((c) => c.name === "side");
      assert.equal(sideStatus?.containerID, `docker://${sidecars[0]}`);

      first.kill("SIGKILL");
      await first.status;
      assert.ok(pidAlive(qemuPid), "the VM survives the agent");

      const restartedAt = Date.now();
      await spawnAgent();
      await eventually("the new agent is up (fresh node heartbeat)", async () => {
        const n = await admin.core.readNode({ name: NODE });
        const hb = n.status?.conditions?.find((c) => c.type === "Ready")?.lastHeartbeatTime;
        return hb !== undefined && new Date(hb).getTime() >= restartedAt - 1000;
      }, 60_000);
      // Ready again after the restart, on the same QEMU process and address.
      await eventually("restarted agent reports the pod", async () => {
        const p = await read();
        const cs = p.status?.containerStatuses?.[0];
        const side = p.status?.containerStatuses?.find((c) => c.name === "side");
        return ready(p) && cs?.state?.running && side?.state?.running &&
          JSON.parse(await Deno.readTextFile(vmJson)).pid === qemuPid;
      }, 120_000);
      const after = await read();
      assert.equal(after.status?.podIP, before.status?.podIP);
      assert.ok(pidAlive(qemuPid));
      assert.equal(dnsmasqPids(bridge).length, 1, "exactly one dnsmasq after the restart");
      assert.equal((await tapsOn(bridge)).length, 1, "exactly one tap");
      assert.deepEqual(await containers(), sidecars, "the same sidecar, adopted, not a second");
      // The first agent's status is still on the pod when the wait above ends; a read may
      // catch the new agent's first, partial report: the adopted sidecar must appear.
      const sideAfter = await eventually(
        "the sidecar reported as the adopted container",
        async () => {
          const side = (await read()).status?.containerStatuses?.find((c) => c.name === "side");
          return side?.containerID === `docker://${sidecars[0]}` && side;
        },
        30_000,
      );
      assert.equal(sideAfter.restartCount, 0);

      await admin.core.deleteNamespacedPod({ name: "survivor", namespace: "default" });
      await eventually("survivor gone", () => read().then(() => false, () => true), 60_000);
      assert.equal(pidAlive(qemuPid), false);
      assert.deepEqual(await tapsOn(bridge), []);
      assert.deepEqual(await containers(), [], "the sidecar is removed with the pod");
    } finally {
      for (const a of agents) {
        try {
          a.kill("SIGTERM");
        } catch { /* exited */ }
        await a.status;
      }
      await docker.stop().catch(() => {});
      await registry.stop();
      await cp.stop();
      for (const pid of dnsmasqPids(bridge)) Deno.kill(pid, "SIGKILL");
      await removeBridge(bridge).catch(() => {});
      await Deno.remove(regDir, { recursive: true }).catch(() => {});
      await Deno.remove(cache, { recursive: true }).catch(() => {});
    }
  },
});
