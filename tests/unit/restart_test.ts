// Restart policy and crash-loop back-off (src/runtime/restart.ts), and the shared backoff
// formula they use (src/util/backoff.ts).

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  BACKOFF_RESET_AFTER_MS,
  containerRestartPolicy,
  CrashLoop,
  goDuration,
  podRestartPolicy,
  shouldRestart,
} from "../../src/runtime/restart.ts";
import { backoffDelay } from "../../src/util/backoff.ts";

const pod = (restartPolicy?: string): k8s.V1Pod => ({ spec: { restartPolicy, containers: [] } });

Deno.test("restart: which exits each policy restarts", () => {
  assert.equal(shouldRestart("Always", 0), true);
  assert.equal(shouldRestart("Always", 137), true);
  assert.equal(shouldRestart("OnFailure", 0), false);
  assert.equal(shouldRestart("OnFailure", 1), true);
  assert.equal(shouldRestart("Never", 0), false);
  assert.equal(shouldRestart("Never", 2), false);
});

Deno.test("restart: pod and container policies", () => {
  assert.equal(podRestartPolicy(pod()), "Always");
  assert.equal(podRestartPolicy(pod("Never")), "Never");
  assert.equal(podRestartPolicy(pod("bogus")), "Always");
  const c: k8s.V1Container = { name: "c" };
  assert.equal(containerRestartPolicy(pod("Never"), c, "regular"), "Never");
  // Init containers: retried unless the pod never restarts; Always counts as OnFailure.
  assert.equal(containerRestartPolicy(pod("Always"), c, "init"), "OnFailure");
  assert.equal(containerRestartPolicy(pod("Never"), c, "init"), "Never");
  // A native sidecar restarts always, whatever the pod says.
  const sidecar = { ...c, restartPolicy: "Always" };
  assert.equal(containerRestartPolicy(pod("Never"), sidecar, "init"), "Always");
});

Deno.test("restart: crash-loop back-off is 10 s doubling to 5 min, reset by a long run", () => {
  const loop = new CrashLoop();
  const delays = Array.from({ length: 7 }, () => loop.next(1_000));
  assert.deepEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  assert.equal(loop.count, 7);
  assert.equal(loop.next(BACKOFF_RESET_AFTER_MS - 1), 300_000, "a short run keeps the back-off");
  assert.equal(loop.next(BACKOFF_RESET_AFTER_MS), 10_000, "ten minutes of running start over");
});

Deno.test("backoff: the formula, capped, with and without jitter", () => {
  const opts = { initialMs: 100, maxMs: 1_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 60].map((n) => backoffDelay(n, opts)), [
    100,
    200,
    400,
    800,
    1_000,
    1_000,
  ]);
  assert.equal(backoffDelay(0, opts), 100, "attempt 0 counts as the first");
  const jitter = (r: number) => backoffDelay(3, { ...opts, jitter: 0.25, random: () => r });
  assert.equal(jitter(0), 300);
  assert.equal(jitter(1), 500);
  assert.equal(backoffDelay(5, { ...opts, jitter: 0.25, random: () => 1 }), 1_000, "capped");
});

Deno.test("restart: durations in messages as Go prints them", () => {
  assert.deepEqual([500, 1_000, 10_000, 80_000, 300_000, 3_723_000].map(goDuration), [
    "500ms",
    "1s",
    "10s",
    "1m20s",
    "5m0s",
    "1h2m3s",
  ]);
});
