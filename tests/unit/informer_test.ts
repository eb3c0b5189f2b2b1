// The informer (src/kube/informer.ts) against a fake API server: its watches carry the
// field selector, bookmarks and a 15-25 s server-side timeout; its watchdog abandons a list
// that hangs and the retry lists again; a server-ended watch is followed by the next at once.

import assert from "node:assert/strict";
import type { KubernetesListObject, V1Pod } from "@kubernetes/client-node";
import { makeInformer } from "../../src/kube/informer.ts";
import { restClient } from "../../src/kube/rest.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { FakeApiServer, until } from "./fake_api_server.ts";

Deno.test("informer: watch parameters, a hung first list is retried, prompt re-watch", async () => {
  const api = new FakeApiServer().start();
  api.put("a");
  let release!: () => void;
  api.listGate = new Promise<void>((r) => release = r);
  const http = Deno.createHttpClient({});
  const rest = restClient(api.url, http, () => Promise.resolve({}));
  const lines: string[] = [];
  const seen: string[] = [];
  const informer = makeInformer<V1Pod>(rest, {
    path: "/api/v1/pods",
    fieldSelector: "spec.nodeName=n1",
    list: () => rest.request<KubernetesListObject<V1Pod>>("GET", "/api/v1/pods"),
    log: createLogger({ level: "warn", write: (l) => lines.push(l) }),
    handlers: { add: (p) => seen.push(p.metadata!.name!) },
    backoff: { initialMs: 50, maxMs: 50, random: () => 1 },
    watchdog: { stuckAfterMs: 300, everyMs: 50 },
  });
  try {
    const t0 = Date.now();
    const started = informer.start();
    await until(() => api.lists.length === 1, 1000, "first list");
    api.listGate = null; // later lists answer at once; the first one stays hung
    await started;
    const took = Date.now() - t0;
    assert.ok(took >= 300 && took < 1000, `started after ${took} ms`);
    assert.equal(api.lists.length, 2, "the hung list was abandoned and a new one made");
    assert.ok(lines.some((l) => l.includes("list/watch stuck; restarting")), lines.join("\n"));
    assert.deepEqual(seen, ["a"]);

    await until(() => api.watches.length === 1, 200, "first watch");
    const q = api.watches[0].query;
    assert.equal(q.get("fieldSelector"), "spec.nodeName=n1");
    assert.equal(q.get("allowWatchBookmarks"), "true");
    const timeout = Number(q.get("timeoutSeconds"));
    assert.ok(timeout >= 15 && timeout < 25, `timeoutSeconds=${timeout}`);

    api.put("b");
    await until(() => seen.includes("b"), 200, "pod b seen");
    api.closeWatches();
    const closed = api.now();
    await until(() => api.watches.length === 2, 200, "second watch");
    assert.ok(api.watches[1].at - closed < 200);
    assert.equal(api.watches[1].query.get("resourceVersion"), api.version);
  } finally {
    await informer.stop();
    release();
    http.close();
    await api.shutdown();
  }
});
