// One agent per cache directory and per VM bridge: a second agent with the same cache dir or
// the same bridge refuses to start, naming the holder and the options to change, and takes
// nothing (the first keeps running); agents with their own settings run side by side; once the
// first stops, its settings are free again.

import assert from "node:assert/strict";
import { startControlPlane } from "../harness/control_plane.ts";
import { type Agent, startAgent } from "../../src/agent.ts";
import { ScriptedRuntime } from "../support/scripted_runtime.ts";
import { nodeConfig } from "../support/world.ts";
import { createLogger } from "../../src/telemetry/log.ts";

const log = createLogger({ level: "error" });
const start = (config: Awaited<ReturnType<typeof nodeConfig>>) =>
  startAgent(config, { log, runtime: () => new ScriptedRuntime({ dockerReachable: false }) });

Deno.test({
  name: "agent locks: a second agent on the same cache dir or bridge refuses to start",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cp = await startControlPlane();
    const agents: Agent[] = [];
    const bridge = `vzkl${Math.floor(Math.random() * 0xffff).toString(16)}`;
    try {
      const first = await nodeConfig(cp, "lock-a", [`--qemu-bridge=${bridge}`, "--backend=qemu"]);
      agents.push(await start(first));

      const sameCache = {
        ...first,
        nodeName: "lock-b",
        qemu: { ...first.qemu, bridge: `${bridge}x` },
      };
      const err = await start(sameCache).then(() => undefined, (e) => e as Error);
      assert.ok(err, "refused");
      assert.match(
        err!.message,
        new RegExp(
          `cache directory ${first.cacheDir} is in use by agent pid ${Deno.pid} \\(node lock-a\\)`,
        ),
      );
      assert.match(
        err!.message,
        /give this agent its own --cache-dir, --qemu-bridge and --qemu-subnet/,
      );

      const sameBridge = await nodeConfig(cp, "lock-c", [
        `--qemu-bridge=${bridge}`,
        "--backend=qemu",
      ]);
      const err2 = await start(sameBridge).then(() => undefined, (e) => e as Error);
      assert.match(
        err2?.message ?? "",
        new RegExp(`VM bridge ${bridge} is in use by agent pid \\d+ \\(node lock-a\\)`),
      );

      const own = await nodeConfig(cp, "lock-d", [`--qemu-bridge=${bridge}d`, "--backend=qemu"]);
      agents.push(await start(own));

      await agents.shift()!.stop();
      agents.push(await start(sameBridge)); // free again once the first has stopped
    } finally {
      for (const a of agents) await a.stop().catch(() => {});
      await cp.stop();
    }
  },
});
