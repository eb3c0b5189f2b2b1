// The list+watch cache (src/kube/list_watch.ts) against a scripted watcher: list then watch
// from the list's resourceVersion with bookmarks, events keep the cache, a 410 Gone lists
// again and reports what vanished meanwhile, other failures are reported and retried after
// a backoff. Over real HTTP: list_watch_http_test.ts.

import assert from "node:assert/strict";
import type { KubernetesListObject, V1Pod } from "@kubernetes/client-node";
import { ListWatch, type ListWatchOptions } from "../../src/kube/list_watch.ts";
import type { WatchCallback, Watcher } from "../../src/kube/watch.ts";

const pod = (name: string, rv: string, namespace = "default"): V1Pod => ({
  metadata: { name, namespace, resourceVersion: rv },
});

interface Connection {
  query: Record<string, unknown>;
  send: WatchCallback;
  done: (err: unknown) => void;
  aborted: () => boolean;
}

function scripted(lists: V1Pod[][]) {
  const connections: Connection[] = [];
  let listed = 0;
  const watcher: Watcher = {
    watch(_path, query, send, done) {
      const controller = new AbortController();
      let ended = false;
      const end = (err: unknown) => {
        if (!ended) done(err);
        ended = true;
      };
      // Like watch.ts: aborting the request ends the watch, `done` is called once.
      controller.signal.addEventListener("abort", () => end(null), { once: true });
      connections.push({ query, send, done: end, aborted: () => controller.signal.aborted });
      return Promise.resolve(controller);
    },
  };
  const list = (): Promise<KubernetesListObject<V1Pod>> => {
    const items = lists[Math.min(listed, lists.length - 1)];
    listed++;
    return Promise.resolve({ items, metadata: { resourceVersion: `${listed * 100}` } });
  };
  return { watcher, list, connections, listed: () => listed };
}

/** Quick, predictable backoff: 20 ms doubling to 80 ms, no jitter. */
const fast: ListWatchOptions = { backoff: { initialMs: 20, maxMs: 80, random: () => 1 } };

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function recorder(lw: ListWatch<V1Pod>) {
  const log: string[] = [];
  lw.on("add", (p) => log.push(`add ${p.metadata!.name}`));
  lw.on("update", (p) => log.push(`update ${p.metadata!.name}`));
  lw.on("delete", (p) => log.push(`delete ${p.metadata!.name}`));
  lw.on("error", (e, delay) => log.push(`error ${(e as Error).message} retry ${delay}`));
  return log;
}

Deno.test("list watch: lists, watches from the list's version, keeps the cache", async () => {
  const s = scripted([[pod("a", "1"), pod("b", "2", "other")]]);
  const lw = new ListWatch<V1Pod>("/api/v1/pods", s.watcher, s.list, "spec.nodeName=n");
  const log = recorder(lw);
  await lw.start();
  assert.deepEqual(log, ["add a", "add b"]);
  assert.deepEqual(s.connections[0].query, {
    resourceVersion: "100",
    allowWatchBookmarks: true,
    fieldSelector: "spec.nodeName=n",
  });
  const w = s.connections[0];
  w.send("MODIFIED", pod("a", "1")); // same resourceVersion: nothing changed
  w.send("MODIFIED", pod("a", "3"));
  w.send("ADDED", pod("c", "4"));
  w.send("DELETED", pod("b", "5", "other"));
  assert.deepEqual(log.slice(2), ["update a", "add c", "delete b"]);
  assert.equal(lw.get("a", "default")?.metadata?.resourceVersion, "3");
  assert.equal(lw.get("b", "other"), undefined);
  assert.deepEqual(lw.list().map((p) => p.metadata!.name).sort(), ["a", "c"]);
  await lw.stop();
  assert.ok(w.aborted());
});

Deno.test("list watch: 410 Gone lists again and reports what vanished", async () => {
  const s = scripted([[pod("a", "1"), pod("b", "2")], [pod("b", "7"), pod("d", "8")]]);
  const lw = new ListWatch<V1Pod>("/api/v1/pods", s.watcher, s.list);
  const log = recorder(lw);
  await lw.start();
  s.connections[0].send("MODIFIED", pod("a", "3"));
  s.connections[0].send("ERROR", { code: 410, reason: "Expired" } as V1Pod);
  await until(() => s.connections[0].aborted()); // an ERROR event ends the watch
  await until(() => s.connections.length === 2);
  assert.equal(s.listed(), 2);
  assert.deepEqual(log, ["add a", "add b", "update a", "delete a", "update b", "add d"]);
  assert.equal(s.connections[1].query.resourceVersion, "200");
  await lw.stop();
});

Deno.test("list watch: a 410 on the first watch after a list backs off", async () => {
  const s = scripted([[pod("a", "1")]]);
  const lw = new ListWatch<V1Pod>("/api/v1/pods", s.watcher, s.list, undefined, fast);
  const log = recorder(lw);
  await lw.start();
  s.connections[0].done(Object.assign(new Error("gone"), { statusCode: 410 }));
  await until(() => s.connections.length === 2);
  assert.equal(s.listed(), 2, "lists again");
  assert.deepEqual(log, ["add a", "error gone retry 20"], "but not in a tight loop");
  await lw.stop();
});

Deno.test("list watch: a timeout reconnects at once, errors are retried after a backoff", async () => {
  const s = scripted([[pod("a", "1")]]);
  const lw = new ListWatch<V1Pod>("/api/v1/pods", s.watcher, s.list, undefined, fast);
  const log = recorder(lw);
  await lw.start();
  s.connections[0].send("ADDED", pod("b", "150"));
  const timeout = Object.assign(new Error("quiet"), { name: "TimeoutError" });
  s.connections[0].done(timeout);
  await until(() => s.connections.length === 2);
  assert.equal(s.listed(), 1, "no relist after a timeout");
  assert.equal(s.connections[1].query.resourceVersion, "150");
  s.connections[1].done(new Error("boom"));
  await until(() => s.connections.length === 3);
  s.connections[2].done(new Error("boom"));
  await until(() => s.connections.length === 4);
  assert.equal(s.connections[3].query.resourceVersion, "150", "no relist after an error");
  assert.deepEqual(log, ["add a", "add b", "error boom retry 20", "error boom retry 40"]);
  assert.equal(s.listed(), 1);
  await lw.stop();
  assert.ok(s.connections[3].aborted());
});

Deno.test("list watch: stop() ends the loop while it waits out a backoff", async () => {
  const s = scripted([[pod("a", "1")]]);
  const lw = new ListWatch<V1Pod>("/api/v1/pods", s.watcher, s.list, undefined, {
    backoff: { initialMs: 60_000, maxMs: 60_000, random: () => 1 },
  });
  await lw.start();
  s.connections[0].done(new Error("boom"));
  await new Promise((r) => setTimeout(r, 10));
  const t0 = Date.now();
  await lw.stop();
  assert.ok(Date.now() - t0 < 500, "stop did not wait for the backoff");
  assert.equal(s.connections.length, 1);
});
