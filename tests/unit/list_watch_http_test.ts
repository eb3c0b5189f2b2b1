// ListWatch (src/kube/list_watch.ts) over real HTTP (watch.ts, rest.ts) against a fake API
// server (fake_api_server.ts): a watch the server ends normally is opened again at once from
// the last resourceVersion, bookmarks included, so a pod bound on a quiet node is seen
// within a second; 410 Expired lists again; HTTP 500, connection refused and watches closed
// at once back off, growing to the cap, and a healthy watch resets the backoff.

import assert from "node:assert/strict";
import type { KubernetesListObject, V1Pod } from "@kubernetes/client-node";
import { ListWatch, type ListWatchOptions } from "../../src/kube/list_watch.ts";
import { restClient } from "../../src/kube/rest.ts";
import { denoWatcher } from "../../src/kube/watch.ts";
import { FakeApiServer, freePort, until } from "./fake_api_server.ts";

/** How soon after a watch ends the next one must arrive to count as "at once". */
const PROMPT_MS = 200;

interface Client {
  lw: ListWatch<V1Pod>;
  /** add/update/delete/error lines, in order. */
  log: string[];
  /** The retry delays that errors announced. */
  delays: number[];
  /** How long each outage lasted, as "recovered" told it. */
  recovered: number[];
  close(): Promise<void>;
}

function client(url: string, opts: ListWatchOptions = {}): Client {
  const http = Deno.createHttpClient({});
  const rest = restClient(url, http, () => Promise.resolve({}));
  const list = () => rest.request<KubernetesListObject<V1Pod>>("GET", "/api/v1/pods");
  const lw = new ListWatch<V1Pod>("/api/v1/pods", denoWatcher(rest), list, undefined, opts);
  const log: string[] = [];
  const delays: number[] = [];
  lw.on("add", (p) => log.push(`add ${p.metadata!.name}`));
  lw.on("update", (p) => log.push(`update ${p.metadata!.name}`));
  lw.on("delete", (p) => log.push(`delete ${p.metadata!.name}`));
  const recovered: number[] = [];
  lw.on("recovered", (ms) => void recovered.push(ms));
  lw.on("error", (e, delay) => {
    log.push(`error ${(e as Error).message}`);
    delays.push(delay);
  });
  return {
    lw,
    log,
    delays,
    recovered,
    async close() {
      await lw.stop();
      http.close();
    },
  };
}

/** Gaps between consecutive requests' arrival times. */
const gaps = (times: number[]): number[] => times.slice(1).map((t, i) => t - times[i]);

Deno.test("list watch over HTTP: a watch the server ends is opened again at once", async () => {
  const api = new FakeApiServer().start();
  api.put("a");
  // Quiet watches that the server ends after 300 ms, as when timeoutSeconds expires (15-25 s
  // in the agent); the "closed at once without an event" threshold is lowered to match.
  api.closeAfterMs = 300;
  const c = client(api.url, { shortWatchMs: 100 });
  try {
    await c.lw.start();
    assert.deepEqual(c.log, ["add a"]);
    await until(() => api.watches.length === 1, PROMPT_MS, "first watch");
    assert.equal(api.watches[0].query.get("resourceVersion"), "101");
    assert.equal(api.watches[0].query.get("allowWatchBookmarks"), "true");

    // A pod bound while a watch is open is seen at once.
    const b = api.put("b");
    await until(() => c.log.includes("add b"), PROMPT_MS, "pod b seen");

    // Four server-ended watches in a row, the last three without any event: each next watch
    // arrives at once and resumes from the last version seen (the old port waited 1 s before
    // the third, 2 s before the fourth, ... up to 30 s).
    for (let i = 1; i <= 4; i++) {
      await until(() => api.watches.length > i, 300 + PROMPT_MS * 2, `watch ${i + 1}`);
      const gap = api.watches[i].at - api.closedAt[i - 1];
      assert.ok(gap < PROMPT_MS, `watch ${i + 1} came ${gap} ms after watch ${i} ended`);
      assert.equal(api.watches[i].query.get("resourceVersion"), b.metadata!.resourceVersion);
    }
    assert.equal(api.lists.length, 1, "no relist");

    // The version moves on with changes this watch does not match; the bookmark the server
    // sends as it ends the watch carries it to the next watch.
    api.bump();
    api.bookmarkOnClose = true;
    const n = api.watches.length;
    await until(() => api.watches.length > n, 300 + PROMPT_MS * 2, "watch after the bookmark");
    assert.equal(api.watches[n].query.get("resourceVersion"), api.version);
    api.bookmarkOnClose = false;

    // A pod bound just as a watch ends is seen within a second.
    let bound = 0;
    api.onClose = () => {
      api.onClose = undefined;
      api.put("c");
      bound = Date.now();
    };
    await until(() => c.log.includes("add c"), 300 + 1000, "pod c seen");
    assert.ok(Date.now() - bound < 1000, `pod c seen ${Date.now() - bound} ms after binding`);
    assert.deepEqual(c.delays, [], "no failure, so no backoff");
  } finally {
    await c.close();
    await api.shutdown();
  }
});

Deno.test("list watch over HTTP: 410 Expired lists again, at once", async () => {
  const api = new FakeApiServer().start();
  api.put("a");
  const c = client(api.url, { backoff: { initialMs: 100, maxMs: 400, random: () => 1 } });
  try {
    await c.lw.start();
    api.put("b");
    await until(() => c.log.includes("add b"), PROMPT_MS, "pod b seen");
    // Changes the client does not see, then compaction: its version is now too old.
    api.closeWatches();
    await until(() => api.watches.length === 2, PROMPT_MS, "second watch");
    api.watchStatus = 503; // hold the client off while the history goes
    api.closeWatches();
    await until(() => api.watches.length === 3, 2000, "third watch (refused)");
    api.remove("a");
    api.put("d");
    api.compact();
    api.watchStatus = null;
    await until(() => api.lists.length === 2, 3000, "relist");
    // The last watch from the client's old version is the one that got 410 Expired.
    const expired = api.watches.findLast((w) => w.query.get("resourceVersion") === "102")!;
    assert.ok(api.lists[1].at - expired.at < PROMPT_MS, "the relist follows the 410 at once");
    const listed = api.version;
    const resumed = () => api.watches.find((w) => w.query.get("resourceVersion") === listed);
    await until(() => resumed() !== undefined, PROMPT_MS, "watch from the new list's version");
    assert.ok(resumed()!.at - api.lists[1].at < PROMPT_MS);
    assert.deepEqual(c.lw.list().map((p) => p.metadata!.name).sort(), ["b", "d"]);
    assert.deepEqual(c.log.filter((l) => !l.startsWith("error")), [
      "add a",
      "add b",
      "delete a",
      "add d",
    ]);
    // An HTTP 410 on the watch request lists again too, as soon as the watch ends.
    api.put("e");
    await until(() => c.log.includes("add e"), PROMPT_MS, "pod e seen");
    api.watchStatus = 410;
    api.closeWatches();
    const closed = api.now();
    await until(() => api.lists.length === 3, PROMPT_MS, "relist after HTTP 410");
    assert.ok(api.lists[2].at - closed < PROMPT_MS);
    api.watchStatus = null;
  } finally {
    await c.close();
    await api.shutdown();
  }
});

Deno.test("list watch over HTTP: 500s back off up to the cap; a healthy watch resets", async () => {
  const api = new FakeApiServer().start();
  api.watchStatus = 500;
  const c = client(api.url, { backoff: { initialMs: 100, maxMs: 400, random: () => 1 } });
  try {
    await c.lw.start();
    await until(() => api.watches.length === 5, 3000, "five failed watches");
    assert.deepEqual(c.delays.slice(0, 4), [100, 200, 400, 400]);
    gaps(api.watches.map((w) => w.at)).slice(0, 4).forEach((gap, i) => {
      const want = [100, 200, 400, 400][i];
      assert.ok(gap >= want - 5 && gap < want + 150, `gap ${i}: ${gap} ms, want ~${want}`);
    });
    assert.equal(api.lists.length, 1, "a failed watch resumes; it does not list again");

    // The server recovers: the next watch works and delivers a pod, and the outage's end
    // is told once with how long it lasted.
    api.watchStatus = null;
    api.put("a");
    await until(() => c.log.includes("add a"), 1000, "pod a seen");
    assert.equal(c.recovered.length, 1, String(c.recovered));
    assert.ok(c.recovered[0] >= 700, `down for ${c.recovered[0]} ms`);
    // It fails again: the backoff starts over from the initial delay.
    const failures = c.delays.length;
    api.watchStatus = 500;
    api.closeWatches();
    await until(() => c.delays.length >= failures + 2, 2000, "two more failures");
    assert.deepEqual(c.delays.slice(failures, failures + 2), [100, 200]);
  } finally {
    await c.close();
    await api.shutdown();
  }
});

Deno.test("list watch over HTTP: connection refused backs off; start waits for a list", async () => {
  const port = freePort();
  const c = client(`http://127.0.0.1:${port}`, {
    backoff: { initialMs: 50, maxMs: 200, random: () => 1 },
  });
  let api: FakeApiServer | undefined;
  try {
    let synced = false;
    const started = c.lw.start().then(() => synced = true);
    await until(() => c.delays.length === 4, 2000, "four refused lists");
    assert.deepEqual(c.delays, [50, 100, 200, 200]);
    assert.ok(c.log.every((l) => l.startsWith("error")));
    assert.equal(synced, false, "start() waits for the first list");
    api = new FakeApiServer(port).start();
    api.put("a");
    await started;
    assert.deepEqual(c.log.slice(-1), ["add a"]);
    await until(() => api!.watches.length === 1, PROMPT_MS, "watch");
  } finally {
    await c.close();
    await api?.shutdown();
  }
});

Deno.test("list watch over HTTP: watches closed at once without events back off", async () => {
  const api = new FakeApiServer().start();
  api.closeAfterMs = 0;
  const c = client(api.url, { backoff: { initialMs: 50, maxMs: 200, random: () => 1 } });
  try {
    await c.lw.start();
    await until(() => c.delays.length === 3, 2000, "three short watches");
    assert.deepEqual(c.delays, [50, 100, 200]);
    assert.match(c.log.at(-1)!, /without an event/);
  } finally {
    await c.close();
    await api.shutdown();
  }
});
