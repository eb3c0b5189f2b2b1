// The list+watch cache (src/kube/list_watch.ts) against a scripted watcher: list then watch
// from the list's resourceVersion, events keep the cache, a 410 Gone lists again and
// reports what vanished meanwhile, other failures are reported and not retried here.

import assert from "node:assert/strict";
import type { KubernetesListObject, V1Pod } from "@kubernetes/client-node";
import { ListWatch } from "../../src/kube/list_watch.ts";
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
      connections.push({ query, send, done, aborted: () => controller.signal.aborted });
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

function recorder(lw: ListWatch<V1Pod>) {
  const log: string[] = [];
  lw.on("add", (p) => log.push(`add ${p.metadata!.name}`));
  lw.on("update", (p) => log.push(`update ${p.metadata!.name}`));
  lw.on("delete", (p) => log.push(`delete ${p.metadata!.name}`));
  lw.on("error", (e) => log.push(`error ${(e as Error).message}`));
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
  s.connections[0].send("ERROR", { code: 410 } as V1Pod);
  await s.connections[0].done(Object.assign(new Error("gone"), { statusCode: 410 }));
  assert.equal(s.listed(), 2);
  assert.deepEqual(log, ["add a", "add b", "delete a", "update b", "add d"]);
  assert.equal(s.connections[1].query.resourceVersion, "200");
  await lw.stop();
});

Deno.test("list watch: a timeout reconnects from the last version, errors are reported", async () => {
  const s = scripted([[pod("a", "1")]]);
  const lw = new ListWatch<V1Pod>("/api/v1/pods", s.watcher, s.list);
  const log = recorder(lw);
  await lw.start();
  s.connections[0].send("ADDED", pod("b", "150"));
  const timeout = Object.assign(new Error("quiet"), { name: "TimeoutError" });
  await s.connections[0].done(timeout);
  assert.equal(s.listed(), 1, "no relist after a timeout");
  assert.equal(s.connections[1].query.resourceVersion, "150");
  await s.connections[1].done(new Error("boom"));
  assert.deepEqual(log, ["add a", "add b", "error boom"]);
  assert.equal(s.connections.length, 2, "the informer decides when to restart");
  await lw.stop();
});
