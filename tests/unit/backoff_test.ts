// The retry rules of the list+watch loop as pure functions: Backoff (src/util/backoff.ts)
// doubles to its cap, jitters within the upper half, starts over after reset; nextAfterWatch
// (src/kube/watch_end.ts) re-watches after normal ends, relists after 410 Gone/Expired and
// backs off after everything else; sleepUnlessAborted (src/util/sleep.ts) ends at an abort,
// also one that came before the sleep began (the container lifecycle relies on it).

import assert from "node:assert/strict";
import { Backoff } from "../../src/util/backoff.ts";
import { nextAfterWatch, type WatchEnd } from "../../src/kube/watch_end.ts";
import { sleepUnlessAborted } from "../../src/util/sleep.ts";

Deno.test("backoff: doubles up to the cap, jitters within the upper half, resets", () => {
  let r = 1;
  const b = new Backoff({ initialMs: 800, maxMs: 30_000, jitter: 0.5, random: () => r });
  assert.deepEqual(
    Array.from({ length: 8 }, () => b.next()),
    [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000],
  );
  b.reset();
  assert.equal(b.attempts, 0);
  r = 0;
  assert.equal(b.next(), 400, "jitter never goes below half the nominal delay");
  r = 0.5;
  assert.equal(b.next(), 1200);
  for (let i = 0; i < 100; i++) assert.ok(b.next() <= 30_000, "never past the cap");
});

Deno.test("backoff: the default draws from the real random source, capped at 5 s", () => {
  const b = new Backoff();
  const first = b.next();
  assert.ok(first >= 400 && first <= 800, `${first}`);
  for (let i = 0; i < 20; i++) assert.ok(b.next() <= 5_000, "an outage is noticed within 5 s");
});

const end = (e: Partial<WatchEnd>): WatchEnd => ({ err: null, events: 0, durationMs: 0, ...e });

Deno.test("watch end: what the loop does after each kind of end", () => {
  // Normal ends: at once, and healthy unless the watcher's own inactivity limit fired.
  assert.deepEqual(nextAfterWatch(end({ durationMs: 20_000 }), 1000), {
    kind: "rewatch",
    healthy: true,
  });
  assert.deepEqual(nextAfterWatch(end({ events: 1, durationMs: 5 }), 1000), {
    kind: "rewatch",
    healthy: true,
  });
  const timeout = Object.assign(new Error("quiet"), { name: "TimeoutError" });
  assert.deepEqual(nextAfterWatch(end({ err: timeout, durationMs: 60_000 }), 1000), {
    kind: "rewatch",
    healthy: false,
  });
  // 410 in every form lists again.
  const expired = { code: 410, reason: "Expired", message: "too old resource version: 1 (5)" };
  const relist = nextAfterWatch(end({ status: expired }), 1000);
  assert.equal(relist.kind, "relist");
  assert.match((relist as { cause: Error }).cause.message, /too old resource version/);
  assert.equal(nextAfterWatch(end({ status: { reason: "Gone" } }), 1000).kind, "relist");
  const http410 = Object.assign(new Error("HTTP 410"), { statusCode: 410 });
  assert.equal(nextAfterWatch(end({ err: http410 }), 1000).kind, "relist");
  // Everything else backs off.
  const http500 = Object.assign(new Error("HTTP 500"), { statusCode: 500 });
  assert.equal(nextAfterWatch(end({ err: http500 }), 1000).kind, "backoff");
  assert.equal(nextAfterWatch(end({ err: new TypeError("refused") }), 1000).kind, "backoff");
  assert.equal(nextAfterWatch(end({ err: "odd" }), 1000).kind, "backoff");
  assert.equal(
    nextAfterWatch(end({ status: { code: 500, message: "internal" } }), 1000).kind,
    "backoff",
  );
  const short = nextAfterWatch(end({ durationMs: 30 }), 1000);
  assert.equal(short.kind, "backoff", "closed at once without an event");
  assert.match((short as { cause: Error }).cause.message, /30 ms without an event/);
});

Deno.test("sleepUnlessAborted: an abort before or during the sleep ends it at once", async () => {
  // Whichever comes first: the sleep's end, or 50 ms (against sleeps of a minute).
  const first = async (p: Promise<void>) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise((r) => timer = setTimeout(() => r("still asleep"), 50));
    try {
      return await Promise.race([p.then(() => "slept"), late]);
    } finally {
      clearTimeout(timer);
    }
  };
  const before = new AbortController();
  before.abort();
  assert.equal(await first(sleepUnlessAborted(60_000, before.signal)), "slept", "aborted before");
  const during = new AbortController();
  const sleeping = sleepUnlessAborted(60_000, during.signal);
  assert.equal(await first(sleeping), "still asleep", "a live signal keeps it asleep");
  during.abort();
  assert.equal(await first(sleeping), "slept", "aborted while asleep");
  const live = new AbortController();
  assert.equal(await first(sleepUnlessAborted(1, live.signal)), "slept", "the delay runs out");
});
