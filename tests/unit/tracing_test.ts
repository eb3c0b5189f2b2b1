// Unit tests of src/telemetry/tracing.ts: the no-op tracer without an endpoint (nothing sent,
// nothing logged), the traces URL, and the sampler against a local collector.

import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { Config } from "../../src/config/types.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { startTracing, tracesUrl } from "../../src/telemetry/tracing.ts";
import { attr, startCollector } from "../support/otlp_collector.ts";

function config(env: Record<string, string> = {}, args: string[] = []): Config {
  const parsed = parseConfig(["--nodename", "unit", ...args], env, {
    os: "linux",
    homeDir: "/home/vz",
    hostname: "unit",
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return parsed.config;
}

function capturingLog() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "info", write: (l) => lines.push(l) }) };
}

Deno.test("tracing: without an endpoint the tracer is a no-op and sends nothing", async () => {
  const collector = startCollector();
  try {
    const { lines, log } = capturingLog();
    const tracing = await startTracing(config(), log);
    const span = tracing.tracer.startSpan("pod.sync", { attributes: { "k8s.pod.name": "x" } });
    assert.equal(span.isRecording(), false);
    assert.equal(span.spanContext().traceId, "00000000000000000000000000000000");
    span.setAttribute("a", "b");
    span.recordException(new Error("boom"));
    span.end();
    await tracing.shutdown();
    await tracing.shutdown(); // idempotent
    assert.equal(collector.requests, 0);
    assert.deepEqual(lines, []);
  } finally {
    await collector.close();
  }
});

Deno.test("tracing: the traces URL", () => {
  assert.equal(tracesUrl("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
  assert.equal(tracesUrl("http://127.0.0.1:4318/"), "http://127.0.0.1:4318/v1/traces");
  assert.equal(tracesUrl("https://otel.example/base"), "https://otel.example/base/v1/traces");
  assert.equal(tracesUrl("https://otel.example/v1/traces"), "https://otel.example/v1/traces");
});

Deno.test("tracing: spans reach the collector, and a sample rate of 0 keeps none", async () => {
  const collector = startCollector();
  try {
    const { lines, log } = capturingLog();
    const on = await startTracing(
      config({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_SERVICE_NAME: "unit-svc" }),
      log,
    );
    on.tracer.startSpan("kept").end();
    await on.shutdown();
    const spans = collector.spans();
    assert.deepEqual(spans.map((s) => s.name), ["kept"]);
    assert.equal(attr(spans[0].resource, "service.name"), "unit-svc");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /msg="tracing enabled"/);

    const off = await startTracing(
      config({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint }, ["--trace-sample-rate", "0"]),
      log,
    );
    off.tracer.startSpan("dropped").end();
    await off.shutdown();
    assert.deepEqual(collector.spans().map((s) => s.name), ["kept"]);
  } finally {
    await collector.close();
  }
});
