// The qemu backend's DHCP server under supervision: a dnsmasq that dies is restarted with
// back-off while problem() says why guests get no address (the node's NetworkUnavailable
// condition and waiting pods use it), and its log is rotated instead of growing without bound.

import assert from "node:assert/strict";
import { startDnsmasq } from "../../src/network/dnsmasq.ts";
import { ensureBridge, removeBridge } from "../../src/network/linux_bridge.ts";
import { planSubnet } from "../../src/network/subnet.ts";
import { observedConditions } from "../../src/node/conditions.ts";
import { silentLogger } from "../../src/telemetry/log.ts";
import { eventually } from "../support/world.ts";

Deno.test({
  name: "dnsmasq: restarted when it dies, problem reported meanwhile, log rotated",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bridge = `vzkq${Math.floor(Math.random() * 0xffff).toString(16)}`;
    const plan = planSubnet(`10.248.${Math.floor(Math.random() * 250) + 1}.0/24`);
    const dir = await Deno.makeTempDir({ prefix: "vzk-dnsmasq-" });
    await ensureBridge(bridge, plan);
    const dnsmasq = await startDnsmasq({
      bridge,
      plan,
      dir,
      log: silentLogger,
      maxLogBytes: 1024,
      logCheckMs: 200,
    });
    try {
      assert.equal(dnsmasq.problem(), undefined);
      const first = dnsmasq.pid;
      Deno.kill(first, "SIGKILL");
      const problem = await eventually("the problem reported", () => dnsmasq.problem(), 5_000, 10);
      assert.match(problem, new RegExp(`dnsmasq \\(DHCP for the VMs on ${bridge}\\) exited`));
      // The node says so while it lasts.
      const network = observedConditions({
        pressure: {
          memoryAvailableBytes: 2 ** 33,
          memoryTotalBytes: 2 ** 34,
          disk: { capacityBytes: 100, availableBytes: 50 },
        },
        runtime: {
          ready: true,
          reason: "BackendReady",
          message: "",
          maxPods: 2,
          version: "x",
          networkProblem: problem,
        },
        cacheDir: dir,
        hasAddress: true,
      }).find((c) => c.type === "NetworkUnavailable")!;
      assert.equal(network.status, "True");
      assert.equal(network.reason, "VMNetworkDown");
      await eventually(
        "restarted",
        () => dnsmasq.problem() === undefined && dnsmasq.pid !== first,
        10_000,
        50,
      );
      assert.ok(Deno.readTextFileSync(`/proc/${dnsmasq.pid}/cmdline`).includes("dnsmasq"));

      await Deno.writeTextFile(`${dir}/dnsmasq.log`, "x".repeat(4096), { append: true });
      await eventually(
        "log rotated",
        () => Deno.stat(`${dir}/dnsmasq.log.1`).then(() => true, () => false),
        5_000,
        50,
      );
      const rotated = await Deno.stat(`${dir}/dnsmasq.log.1`);
      assert.ok(rotated.size >= 4096);
    } finally {
      await dnsmasq.stop();
      await removeBridge(bridge).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
