// The agent of the kubelet API benchmark, as its own process so its memory can be measured
// alone: the real agent (config from flags and environment as `main.ts serve` reads them)
// with the scripted test runtime, whose exec runs commands on this host and whose
// port-forward reaches local ports (BENCH_PORT_MAP, JSON: pod port -> local port).
// BENCH_DECLARE_NOTHING=1: a node with no declared features, whose WebSocket streams
// kube-apiserver translates to SPDY (the path every stream took before Kubernetes 1.36).
// Prints "ready" once the node is registered; stops on SIGTERM.

import "reflect-metadata";
import { startAgent } from "../src/agent.ts";
import { parseConfig } from "../src/config/parse.ts";
import { localHost } from "../src/config/local_host.ts";
import { createLogger } from "../src/telemetry/log.ts";
import { ScriptedRuntime } from "../tests/support/scripted_runtime.ts";

const env = Deno.env.toObject();
const parsed = parseConfig(Deno.args, env, localHost());
if (!parsed.ok) {
  console.error(parsed.errors.join("\n"));
  Deno.exit(2);
}
const log = createLogger({ level: parsed.config.logLevel });
const runtime = new ScriptedRuntime({
  dockerReachable: false,
  startDelayMs: 10,
  portMap: JSON.parse(env.BENCH_PORT_MAP ?? "{}"),
});
const agent = await startAgent(parsed.config, {
  log,
  runtime: () => runtime,
  declaredFeatures: env.BENCH_DECLARE_NOTHING === "1" ? [] : undefined,
});
console.log("ready");
await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", () => resolve()));
await agent.stop();
Deno.exit(0);
