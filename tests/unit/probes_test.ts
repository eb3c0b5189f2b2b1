// Probes (src/runtime/probes.ts) over a scripted driver: the API's defaults, thresholds in a
// row, startup before the others, readiness coming and going, liveness killing the run, and
// timeouts; and the gRPC health client (src/runtime/grpc_health.ts) against a real gRPC
// server (@grpc/grpc-js with the standard health service implementation).

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { type ProbeKind, probeSpec, ProbeTracker, runProbes } from "../../src/runtime/probes.ts";
import { grpcHealthCheck, healthRequest, healthStatus } from "../../src/runtime/grpc_health.ts";
import type { ContainerDriver } from "../../src/runtime/driver.ts";

Deno.test("probe spec: the API's defaults, in milliseconds", () => {
  const s = probeSpec("readiness", { exec: { command: ["true"] } });
  assert.equal(s.initialDelayMs, 0);
  assert.equal(s.periodMs, 10_000);
  assert.equal(s.timeoutMs, 1_000);
  assert.equal(s.successThreshold, 1);
  assert.equal(s.failureThreshold, 3);
  assert.equal(s.killGraceMs, undefined);
  const l = probeSpec("liveness", {
    periodSeconds: 2,
    timeoutSeconds: 5,
    successThreshold: 4,
    failureThreshold: 1,
    initialDelaySeconds: 7,
    terminationGracePeriodSeconds: 3,
  });
  assert.equal(l.successThreshold, 1, "liveness needs one success");
  assert.deepEqual([l.periodMs, l.timeoutMs, l.failureThreshold, l.initialDelayMs, l.killGraceMs], [
    2_000,
    5_000,
    1,
    7_000,
    3_000,
  ]);
});

Deno.test("probe tracker: verdicts only when a threshold is crossed in a row", () => {
  const t = new ProbeTracker({ successThreshold: 2, failureThreshold: 3 });
  const seq = [true, false, true, true, true, false, false, true, false, false, false, false];
  assert.deepEqual(seq.map((ok) => t.record(ok) ?? "-"), [
    "-",
    "-",
    "-",
    "success",
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
    "failure",
    "-",
  ]);
  assert.equal(t.state, "failure");
});

/** A driver whose exec answers from `answer(command)` (exit code, or "hang"). */
function scriptedDriver(answer: (argv: string[]) => number | "hang"): ContainerDriver {
  return {
    name: "c",
    start: () => Promise.reject(new Error("unused")),
    stop: () => Promise.resolve(),
    release: () => Promise.resolve(),
    remove: () => Promise.resolve(),
    detach() {},
    address: () => Promise.resolve("127.0.0.1"),
    exec(argv, io) {
      const a = answer(argv);
      if (a === "hang") {
        return new Promise((resolve) =>
          io.signal?.addEventListener("abort", () => resolve(137), { once: true })
        );
      }
      return Promise.resolve(a);
    },
    attach: () => Promise.resolve(),
    logs: () => Promise.resolve(new ReadableStream()),
    stats: () => Promise.resolve(undefined),
  };
}

interface Seen {
  events: string[];
  unhealthy: string[];
  killed?: { kind: ProbeKind; graceMs?: number };
}

/** Runs the probes until `runMs` passed, or `until(seen)` holds after an event. */
async function probe(
  container: k8s.V1Container,
  answer: (argv: string[]) => number | "hang",
  runMs: number,
  until?: (seen: Seen) => boolean,
): Promise<Seen> {
  const seen: Seen = { events: [], unhealthy: [] };
  const abort = new AbortController();
  const event = (e: string) => {
    seen.events.push(e);
    if (until?.(seen)) abort.abort();
  };
  const done = runProbes({ spec: container, driver: scriptedDriver(answer) }, {
    signal: abort.signal,
    started: () => event("started"),
    ready: (r) => event(r ? "ready" : "unready"),
    unhealthy: (_kind, output) => seen.unhealthy.push(output),
    kill(kind, graceMs) {
      seen.killed = { kind, graceMs };
      abort.abort();
    },
  });
  const timer = setTimeout(() => abort.abort(), runMs);
  await done;
  clearTimeout(timer);
  return seen;
}

const exec = (name: string) => ({ exec: { command: ["check", name] } });

Deno.test("probes: no probes means started and ready at once", async () => {
  const seen = await probe({ name: "c" }, () => 0, 50);
  assert.deepEqual(seen.events, ["started", "ready"]);
});

Deno.test("probes: startup gates the others; liveness failures kill the run", async () => {
  const calls: string[] = [];
  let startupTries = 0;
  const seen = await probe(
    {
      name: "c",
      startupProbe: { ...exec("startup"), periodSeconds: 1, failureThreshold: 5 },
      livenessProbe: {
        ...exec("live"),
        periodSeconds: 1,
        failureThreshold: 2,
        terminationGracePeriodSeconds: 4,
      },
      readinessProbe: { ...exec("ready"), periodSeconds: 1 },
    },
    (argv) => {
      calls.push(argv[1]);
      if (argv[1] === "startup") return ++startupTries < 2 ? 1 : 0;
      if (argv[1] === "live") return 3;
      return 0;
    },
    10_000,
  );
  // Nothing but the startup probe ran before it passed.
  assert.deepEqual(calls.slice(0, 2), ["startup", "startup"]);
  assert.equal(seen.events[0], "started");
  assert.ok(seen.events.includes("ready"));
  assert.deepEqual(seen.killed, { kind: "liveness", graceMs: 4_000 });
  assert.ok(
    seen.unhealthy.some((u) =>
      /^Liveness probe failed: command \["check","live"\] exited 3/.test(u)
    ),
  );
  assert.ok(seen.unhealthy.some((u) => /^Startup probe failed:/.test(u)));
});

Deno.test("probes: a startup probe that never passes kills the run; a hang times out", async () => {
  const seen = await probe(
    {
      name: "c",
      startupProbe: {
        ...exec("startup"),
        periodSeconds: 1,
        timeoutSeconds: 1,
        failureThreshold: 2,
      },
    },
    () => "hang",
    10_000,
  );
  assert.equal(seen.killed?.kind, "startup");
  assert.deepEqual(seen.events, [], "never started");
  assert.match(seen.unhealthy[0], /^Startup probe failed: probe timed out after 1s/);
});

Deno.test("probes: readiness follows thresholds over time", async () => {
  let n = 0;
  const answers = [1, 0, 0, 1, 1];
  const seen = await probe(
    {
      name: "c",
      readinessProbe: {
        ...exec("ready"),
        periodSeconds: 1,
        successThreshold: 2,
        failureThreshold: 2,
      },
    },
    () => answers[n++] ?? 0,
    30_000,
    (seen) => seen.events.includes("unready"),
  );
  // 1 fails, 2 and 3 succeed (ready), 4 and 5 fail (unready).
  assert.deepEqual(seen.events, ["started", "ready", "unready"]);
  assert.equal(seen.unhealthy.length, 3);
  assert.match(seen.unhealthy[0], /^Readiness probe failed:/);
});

Deno.test("probes: httpGet and tcpSocket against real local servers, by port name", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/healthz" && req.headers.get("x-probe") === "yes"
        ? new Response("fine")
        : new Response("nope", { status: 503 }),
  );
  const port = server.addr.port;
  try {
    const container: k8s.V1Container = {
      name: "c",
      ports: [{ name: "http", containerPort: port }],
      readinessProbe: {
        httpGet: {
          path: "/healthz",
          port: "http",
          httpHeaders: [{ name: "x-probe", value: "yes" }],
        },
        periodSeconds: 1,
      },
      livenessProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 1 },
    };
    const ok = await probe(container, () => 0, 1_500);
    assert.deepEqual(ok.events, ["started", "ready"]);
    assert.equal(ok.killed, undefined);
    const bad = await probe(
      { ...container, readinessProbe: { httpGet: { path: "/other", port }, periodSeconds: 1 } },
      () => 0,
      1_500,
    );
    assert.match(
      bad.unhealthy[0],
      /^Readiness probe failed: HTTP probe failed with statuscode: 503/,
    );
    const closed = await probe(
      {
        name: "c",
        livenessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1, failureThreshold: 1 },
      },
      () => 0,
      2_000,
    );
    assert.equal(closed.killed?.kind, "liveness");
    assert.match(closed.unhealthy[0], /^Liveness probe failed: dial tcp 127\.0\.0\.1:1/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("grpc health: the wire format", () => {
  assert.deepEqual([...healthRequest("")], [0, 0, 0, 0, 0]);
  assert.deepEqual([...healthRequest("db")], [0, 0, 0, 0, 4, 0x0a, 2, 0x64, 0x62]);
  assert.equal(healthStatus(new Uint8Array([0, 0, 0, 0, 2, 0x08, 1])), 1);
  assert.equal(healthStatus(new Uint8Array([0, 0, 0, 0, 0])), 0, "empty message is UNKNOWN");
  assert.equal(healthStatus(new Uint8Array([0, 0])), undefined);
});

Deno.test({
  name: "grpc health: a real gRPC server's health service",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // deno-lint-ignore no-import-prefix -- test-only dependency, kept out of deno.json's imports
    const grpc = await import("npm:@grpc/grpc-js@1.14.7");
    // deno-lint-ignore no-import-prefix -- test-only dependency
    const { HealthImplementation } = await import("npm:grpc-health-check@2.1.0");
    const server = new grpc.Server();
    new HealthImplementation({ "": "SERVING", db: "NOT_SERVING" }).addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createInsecure(),
        (err: Error | null, p: number) => err ? reject(err) : resolve(p),
      )
    );
    try {
      const t = () => AbortSignal.timeout(3_000);
      assert.deepEqual(await grpcHealthCheck("127.0.0.1", port, "", t()), { ok: true, output: "" });
      const down = await grpcHealthCheck("127.0.0.1", port, "db", t());
      assert.equal(down.ok, false);
      assert.match(down.output, /NOT_SERVING/);
      const unknown = await grpcHealthCheck("127.0.0.1", port, "other", t());
      assert.match(unknown.output, /^rpc error: code = 5 Health status unknown for service other$/);
    } finally {
      server.forceShutdown();
    }
  },
});
