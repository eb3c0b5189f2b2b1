// The Kubernetes client layer without a cluster: kubeconfig parsing (current context,
// relative paths, the APISERVER_CA_CERT_LOCATION fallback), the credential headers, how
// request objects become paths and query strings, and the REST client against a local HTTP
// server (methods, patch content types, JSON bodies, ApiException on failure).

import assert from "node:assert/strict";
import { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
import { loadKubeConfig, mergePatch, strategicMerge } from "../../src/kube/client.ts";
import { coordinationApi } from "../../src/kube/coordination_api.ts";
import { coreApi } from "../../src/kube/core_api.ts";
import { authHeaders } from "../../src/kube/credentials.ts";
import { parseKubeConfig, readKubeConfig } from "../../src/kube/kubeconfig.ts";
import { resourcePath, resourceQuery } from "../../src/kube/resource.ts";
import { type RequestOptions, type RestClient, restClient } from "../../src/kube/rest.ts";

const YAML = `
apiVersion: v1
kind: Config
clusters:
- name: one
  cluster:
    server: https://one.example:6443/
    certificate-authority: pki/ca.crt
- name: two
  cluster:
    server: https://two.example
contexts:
- name: a
  context: { cluster: one, user: alice }
- name: b
  context: { cluster: two, user: bob }
current-context: b
users:
- name: alice
  user:
    client-certificate: pki/alice.crt
    client-key: /abs/alice.key
- name: bob
  user:
    token: t0ken
`;

Deno.test("kubeconfig: YAML, the current context picks cluster and user", () => {
  const kc = parseKubeConfig(YAML);
  assert.equal(kc.currentContext, "b");
  assert.equal(kc.getCurrentCluster()?.server, "https://two.example");
  assert.equal(kc.getCurrentUser()?.token, "t0ken");
  assert.throws(() => parseKubeConfig("clusters: [{ name: x, cluster: {} }]"), /server/);
  const none = parseKubeConfig("{}");
  assert.equal(none.getCurrentCluster(), null);
  assert.equal(none.getCurrentUser(), null);
});

Deno.test("kubeconfig: file paths are relative to the kubeconfig; CA fallback", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config`;
    await Deno.writeTextFile(path, YAML.replace("current-context: b", "current-context: a"));
    const kc = readKubeConfig(path);
    assert.equal(kc.getCurrentCluster()?.server, "https://one.example:6443");
    assert.equal(kc.getCurrentCluster()?.caFile, `${dir}/pki/ca.crt`);
    assert.equal(kc.getCurrentUser()?.certFile, `${dir}/pki/alice.crt`);
    assert.equal(kc.getCurrentUser()?.keyFile, "/abs/alice.key");

    // APISERVER_CA_CERT_LOCATION applies only where the kubeconfig names no CA.
    const withCa = loadKubeConfig({ kubeconfigPath: path, apiserverCaPath: "/etc/ca.pem" });
    assert.equal(withCa.getCurrentCluster()?.caFile, `${dir}/pki/ca.crt`);
    await Deno.writeTextFile(path, YAML);
    const noCa = loadKubeConfig({
      kubeconfigPath: `${path}:/other`,
      apiserverCaPath: "/etc/ca.pem",
    });
    assert.equal(noCa.getCurrentCluster()?.caFile, "/etc/ca.pem");
    assert.throws(
      () => loadKubeConfig({ kubeconfigPath: `${dir}/missing` }),
      /KUBECONFIG: cannot load/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials: bearer token, basic auth and impersonation headers", async () => {
  const user = (u: string) =>
    parseKubeConfig(`
clusters: [{ name: c, cluster: { server: "https://x" } }]
contexts: [{ name: c, context: { cluster: c, user: u } }]
current-context: c
users: [{ name: u, user: ${u} }]`);
  assert.deepEqual(await authHeaders(user("{ token: abc }"))(), { Authorization: "Bearer abc" });
  assert.deepEqual(await authHeaders(user("{ username: ü, password: p }"))(), {
    Authorization: `Basic ${btoa("\xc3\xbc:p")}`,
  });
  // A token wins over basic auth, as in client-node.
  assert.deepEqual(
    await authHeaders(user("{ username: a, password: p, token: t, as: someone }"))(),
    { Authorization: "Bearer t", "Impersonate-User": "someone" },
  );
  assert.deepEqual(await authHeaders(user("{ client-certificate: /c }"))(), {});
});

Deno.test("resource requests: path segments escaped, other fields in the query", () => {
  assert.equal(resourcePath("/api/v1", "nodes", {}), "/api/v1/nodes");
  assert.equal(
    resourcePath("/api/v1", "pods", { namespace: "ns", name: "a b" }, "status"),
    "/api/v1/namespaces/ns/pods/a%20b/status",
  );
  assert.deepEqual(
    resourceQuery({
      name: "n",
      namespace: "ns",
      body: {},
      fieldSelector: "spec.nodeName=x",
      _continue: "tok",
      gracePeriodSeconds: 0,
      dryRun: undefined,
    }),
    { fieldSelector: "spec.nodeName=x", continue: "tok", gracePeriodSeconds: 0 },
  );
});

Deno.test("core and coordination APIs: verbs, paths and patch types", async () => {
  const seen: string[] = [];
  const fake: RestClient = {
    server: "https://x",
    http: undefined as unknown as Deno.HttpClient,
    authHeaders: () => Promise.resolve({}),
    request<T>(method: string, path: string, opts: RequestOptions = {}) {
      const q = new URLSearchParams(
        Object.entries(opts.query ?? {}).map(([k, v]) => [k, String(v)]),
      );
      seen.push(`${method} ${path}${q.size ? `?${q}` : ""} ${opts.contentType ?? "-"}`);
      return Promise.resolve({} as T);
    },
  };
  const core = coreApi(fake);
  const leases = coordinationApi(fake);
  await core.readNode({ name: "n" });
  await core.createNode({ body: {} });
  await core.patchNodeStatus({ name: "n", body: {} }, strategicMerge);
  await core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=n" });
  await core.patchNamespacedPod({ name: "p", namespace: "d", body: [] });
  await core.deleteNamespacedPod({ name: "p", namespace: "d", gracePeriodSeconds: 0 });
  await core.patchNamespacedEvent({ name: "e", namespace: "d", body: {} }, mergePatch);
  await core.createNamespacedServiceAccountToken({ name: "sa", namespace: "d", body: {} });
  await leases.replaceNamespacedLease({ name: "n", namespace: "kube-node-lease", body: {} });
  assert.deepEqual(seen, [
    "GET /api/v1/nodes/n -",
    "POST /api/v1/nodes -",
    "PATCH /api/v1/nodes/n/status application/strategic-merge-patch+json",
    "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dn -",
    "PATCH /api/v1/namespaces/d/pods/p application/json-patch+json",
    "DELETE /api/v1/namespaces/d/pods/p?gracePeriodSeconds=0 -",
    "PATCH /api/v1/namespaces/d/events/e application/merge-patch+json",
    "POST /api/v1/namespaces/d/serviceaccounts/sa/token -",
    "PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n -",
  ]);
});

Deno.test("rest client: JSON both ways, auth headers, ApiException on failure", async () => {
  const requests: { method: string; url: string; type: string | null; auth: string | null }[] = [];
  const bodies: unknown[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests.push({
      method: req.method,
      url: req.url,
      type: req.headers.get("content-type"),
      auth: req.headers.get("authorization"),
    });
    if (req.body) bodies.push(await req.json());
    if (req.url.endsWith("/missing")) {
      return Response.json({ kind: "Status", message: "not here", code: 404 }, { status: 404 });
    }
    return Response.json({ kind: "Node", metadata: { creationTimestamp: "2024-01-02T03:04:05Z" } });
  });
  const http = Deno.createHttpClient({});
  try {
    const rest = restClient(
      `http://127.0.0.1:${server.addr.port}`,
      http,
      () => Promise.resolve({ Authorization: "Bearer x" }),
    );
    const node = await rest.request<{ metadata: { creationTimestamp: string } }>(
      "PATCH",
      "/api/v1/nodes/n",
      { body: { a: new Date(0) }, contentType: strategicMerge.contentType, query: { q: 1 } },
    );
    // Timestamps stay strings, as the API sent them.
    assert.equal(node.metadata.creationTimestamp, "2024-01-02T03:04:05Z");
    assert.deepEqual(bodies, [{ a: "1970-01-01T00:00:00.000Z" }]);
    assert.deepEqual(requests[0], {
      method: "PATCH",
      url: `http://127.0.0.1:${server.addr.port}/api/v1/nodes/n?q=1`,
      type: "application/strategic-merge-patch+json",
      auth: "Bearer x",
    });
    await rest.request("POST", "/x", { body: {} });
    assert.equal(requests[1].type, "application/json");
    await assert.rejects(
      rest.request("GET", "/missing"),
      (e: unknown) =>
        e instanceof ApiException && e.code === 404 &&
        (e.body as { message: string }).message === "not here",
    );
  } finally {
    http.close();
    await server.shutdown();
  }
});
