// Tracing end to end: an agent with OTEL_EXPORTER_OTLP_ENDPOINT set, against a real control
// plane, sends a `pod.sync` span per pod sync to an OTLP/HTTP collector (a local Deno.serve).
// The runtime is the scripted test runtime: this test is about the spans.

import "reflect-metadata";
import assert from "node:assert/strict";
import { startControlPlane } from "../harness/control_plane.ts";
import { type Agent, startAgent } from "../../src/agent.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { startTracing } from "../../src/telemetry/tracing.ts";
import { attr, startCollector } from "../support/otlp_collector.ts";
import { ScriptedRuntime } from "../support/scripted_runtime.ts";
import { adminClients, eventually, nodeConfig, testPod } from "../support/world.ts";

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });
const NODE = "trace-node";

Deno.test({
  name: "tracing: pod syncs reach an OTLP collector as pod.sync spans",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const collector = startCollector();
    const cp = await startControlPlane();
    const admin = adminClients(cp);
    let agent: Agent | undefined;
    try {
      const config = await nodeConfig(cp, NODE, [], {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
        OTEL_SERVICE_NAME: "vzk-test",
      });
      const tracing = await startTracing(config, log);
      agent = await startAgent(config, {
        log,
        runtime: () => new ScriptedRuntime(),
        tracer: tracing.tracer,
      });
      await admin.core.createNamespacedPod({ namespace: "default", body: testPod("traced", NODE) });
      await eventually("traced Running", async () => {
        const p = await admin.core.readNamespacedPod({ name: "traced", namespace: "default" });
        return p.status?.phase === "Running";
      });
      await agent.stop();
      agent = undefined;
      await tracing.shutdown();

      const spans = collector.spans().filter((s) => s.name === "pod.sync");
      const traced = spans.find((s) => attr(s.attributes, "k8s.pod.name") === "traced");
      assert.ok(traced, `a pod.sync span for "traced" among ${spans.length} pod.sync spans`);
      assert.equal(attr(traced.attributes, "k8s.pod.namespace"), "default");
      assert.equal(attr(traced.attributes, "k8s.node.name"), NODE);
      assert.equal(attr(traced.resource, "service.name"), "vzk-test");
    } finally {
      await agent?.stop();
      await cp.stop();
      await collector.close();
    }
  },
});
