// Fifty hybrid pods (the VM and a Docker sidecar) created and deleted through the API, two at a
// time (the node's VM slots), each reached over SSH and exec'd into before it goes: afterwards
// the agent (this process) holds no more descriptors or memory than after the first few, and no
// VM, tap, work directory or container is left. A deleted VM whose SSH socket stayed open used
// to cost a descriptor per pod.

import assert from "node:assert/strict";
import { testPod } from "../support/world.ts";
import { startVmWorld } from "../support/vm_world.ts";
import { tapsOn } from "../../src/network/linux_bridge.ts";
import { LABEL_NODE } from "../../src/containers/names.ts";

const NODE = "churn-node";
const PODS = 50;

const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
const rss = () =>
  Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))![1]) * 1024;

Deno.test({
  name: `pod churn: ${PODS} hybrid pods created and deleted leave no descriptors, memory or VMs`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const w = await startVmWorld({ node: NODE, docker: true });
    const nodeContainers = async () =>
      (await w.docker!.docker(["ps", "-aq", "--filter", `label=${LABEL_NODE}=${NODE}`])).stdout
        .split(/\s+/).filter(Boolean);
    try {
      const vmPod = (name: string) =>
        testPod(name, NODE, {
          grace: 5,
          containers: [{
            name: "vm",
            image: w.image,
            resources: { requests: { cpu: "1", memory: "192Mi" } },
          }, {
            name: "side",
            image: w.busybox!,
            // PID 1 of a container ignores SIGTERM unless it says otherwise: this one ends at once.
            command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
          }],
        });
      /** One pod's whole life: created, Ready (SSH answered), exec'd into, deleted. */
      const cycle = async (name: string) => {
        await w.create(vmPod(name));
        await w.waitReady(name);
        const code = await w.agent().runtime.exec("default", name, "vm", ["true"], { tty: false });
        assert.equal(code, 0, `exec in ${name}`);
        await w.remove(name);
      };
      /** `count` pods through both VM slots, each slot taking the next pod as soon as it is free. */
      const churn = async (from: number, count: number) => {
        let next = from;
        const slot = async () => {
          while (next < from + count) await cycle(`churn-${next++}`);
        };
        await Promise.all([slot(), slot()]);
      };
      const settled = async () => {
        await new Promise((r) => setTimeout(r, 1_500)); // sockets of closed sessions are gone by then
        return { fds: fds(), rss: rss() };
      };
      const WARM = 4; // by then every module is loaded and every pool warmed: the baseline
      await churn(0, WARM);
      const baseline = await settled();
      await churn(WARM, PODS - WARM);
      const end = await settled();
      assert.deepEqual(await w.leftoverVms(), []);
      assert.deepEqual(await nodeContainers(), [], "containers left in Docker");
      assert.deepEqual(await tapsOn(w.config.qemu.bridge), [], "taps left on the bridge");
      assert.ok(end.fds <= baseline.fds + 2, `descriptors ${baseline.fds} -> ${end.fds}`);
      const mib = (n: number) => Math.round(n / 2 ** 20);
      assert.ok(
        end.rss < baseline.rss + 48 * 2 ** 20,
        `RSS ${mib(baseline.rss)} -> ${mib(end.rss)} MiB`,
      );
    } finally {
      await w.stop();
    }
  },
});
