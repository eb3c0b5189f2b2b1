// Authentication and authorisation of the kubelet API without a cluster: the kubelet's
// request attributes, bearer token parsing, and the caches in front of TokenReview and
// SubjectAccessReview (TTLs, allowed vs denied lifetimes, one call per burst).

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { AuthApi, NodeAccess, TokenReviewResult } from "../../src/kube/auth.ts";
import { bearerToken, createAuthenticator } from "../../src/server/authn.ts";
import { createAuthorizer, requestAttributes } from "../../src/server/authz.ts";

Deno.test("server auth: request attributes follow the kubelet's table", () => {
  const cases: [string, string, string, string[]][] = [
    ["GET", "/stats/summary", "get", ["stats"]],
    ["POST", "/stats/summary", "create", ["stats"]],
    ["GET", "/metrics", "get", ["metrics"]],
    ["GET", "/metrics/resource", "get", ["metrics"]],
    ["GET", "/logs/messages", "get", ["log"]],
    ["GET", "/containerLogs/ns/pod/c", "get", ["proxy"]],
    ["POST", "/exec/ns/pod/c", "create", ["proxy"]],
    ["GET", "/portForward/ns/pod", "get", ["proxy"]],
    ["GET", "/pods", "get", ["pods", "proxy"]],
    ["GET", "/runningpods/", "get", ["pods", "proxy"]],
    ["GET", "/healthz", "get", ["healthz", "proxy"]],
    ["GET", "/statsx", "get", ["proxy"]],
    ["DELETE", "/anything", "delete", ["proxy"]],
  ];
  for (const [method, path, verb, subresources] of cases) {
    assert.deepEqual(requestAttributes(method, path), { verb, subresources }, `${method} ${path}`);
  }
});

Deno.test("server auth: bearer tokens are read from the Authorization header only", () => {
  assert.equal(bearerToken("Bearer abc.def"), "abc.def");
  assert.equal(bearerToken("bearer   xyz "), "xyz");
  assert.equal(bearerToken("Basic dXNlcg=="), undefined);
  assert.equal(bearerToken("Bearer"), undefined);
  assert.equal(bearerToken(undefined), undefined);
});

function fakeApi(
  tokens: Record<string, TokenReviewResult>,
  allow: (a: NodeAccess) => boolean,
): AuthApi & { tokenCalls: number; accessCalls: NodeAccess[] } {
  const api = {
    tokenCalls: 0,
    accessCalls: [] as NodeAccess[],
    reviewToken(token: string) {
      api.tokenCalls++;
      return Promise.resolve(tokens[token] ?? { authenticated: false, error: "unknown token" });
    },
    reviewAccess(access: NodeAccess) {
      api.accessCalls.push(access);
      return Promise.resolve({ allowed: allow(access), reason: allow(access) ? undefined : "no" });
    },
  };
  return api;
}

const request = (headers: Record<string, string>) =>
  ({ headers, socket: { authorized: false } }) as unknown as IncomingMessage;

Deno.test("server auth: tokens go to TokenReview once per TTL; rejected ones fail with 401 reasons", async () => {
  let now = 1_000_000;
  const api = fakeApi({
    good: { authenticated: true, user: { username: "system:serviceaccount:ns:sa", groups: ["g"] } },
  }, () => true);
  const authn = createAuthenticator({
    verifyClients: true,
    tokens: api,
    tokenTtlMs: 60_000,
    now: () => now,
  });

  const ok = await authn(request({ authorization: "Bearer good" }));
  assert.ok(ok.ok);
  assert.equal(ok.user.username, "system:serviceaccount:ns:sa");
  assert.deepEqual(ok.user.groups, ["g", "system:authenticated"]);
  await Promise.all([1, 2, 3].map(() => authn(request({ authorization: "Bearer good" }))));
  assert.equal(api.tokenCalls, 1, "cached within the TTL");
  now += 61_000;
  await authn(request({ authorization: "Bearer good" }));
  assert.equal(api.tokenCalls, 2, "asked again after the TTL");

  const bad = await authn(request({ authorization: "Bearer nope" }));
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.reason : "", /token rejected: unknown token/);
  const none = await authn(request({}));
  assert.equal(none.ok, false);

  const noWebhook = createAuthenticator({ verifyClients: true, tokenTtlMs: 1 });
  const refused = await noWebhook(request({ authorization: "Bearer good" }));
  assert.equal(refused.ok, false);
});

Deno.test("server auth: SubjectAccessReview answers are cached with separate allowed/denied TTLs", async () => {
  let now = 0;
  const api = fakeApi({}, (a) => a.subresource === "stats" || a.user.username === "admin");
  const authz = createAuthorizer({
    api,
    node: "n1",
    allowedTtlMs: 300_000,
    deniedTtlMs: 30_000,
    now: () => now,
  });
  const alice = { username: "alice", groups: ["system:authenticated"] };

  const stats = await authz(alice, "GET", "/stats/summary");
  assert.equal(stats.allowed, true);
  assert.deepEqual(api.accessCalls[0], {
    user: alice,
    verb: "get",
    subresource: "stats",
    node: "n1",
  });

  const pods = await authz(alice, "GET", "/pods");
  assert.equal(pods.allowed, false);
  assert.deepEqual(api.accessCalls.slice(1).map((a) => a.subresource), ["pods", "proxy"]);

  const calls = api.accessCalls.length;
  now = 29_000;
  await authz(alice, "GET", "/stats/summary");
  await authz(alice, "GET", "/pods");
  assert.equal(api.accessCalls.length, calls, "both answers cached");
  now = 31_000;
  await authz(alice, "GET", "/stats/summary");
  assert.equal(api.accessCalls.length, calls, "allowed still cached");
  await authz(alice, "GET", "/pods");
  assert.equal(api.accessCalls.length, calls + 2, "denied expired after 30 s");

  const admin = await authz({ username: "admin", groups: [] }, "POST", "/exec/a/b/c");
  assert.equal(admin.allowed, true);
  assert.deepEqual(admin.attrs, { verb: "create", subresources: ["proxy"] });
});
