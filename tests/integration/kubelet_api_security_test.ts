// Who may use the kubelet API, against a real API server: callers without credentials and
// with certificates of another CA get 401; the API server's kubelet-client certificate is
// accepted; service-account tokens are checked with TokenReview and their requests
// authorised with SubjectAccessReview (403 without nodes/proxy rights, 200 with them);
// expired and forged tokens fail. (The caches' TTLs are tested in server_auth_test.ts.)

import "reflect-metadata";
import assert from "node:assert/strict";
import { createSign } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../harness/control_plane.ts";
import { createPki } from "../harness/pki.ts";
import { startKubeletWorld } from "../support/kubelet_api_world.ts";
import { adminClients, eventually } from "../support/world.ts";

const NODE = "secure-node";

interface Reply {
  status: number;
  body: string;
}

async function call(
  url: string,
  opts: { caCert: string; cert?: string; key?: string; token?: string },
): Promise<Reply> {
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(opts.caCert)],
    ...(opts.cert && opts.key
      ? { cert: await Deno.readTextFile(opts.cert), key: await Deno.readTextFile(opts.key) }
      : {}),
  });
  try {
    const res = await fetch(url, {
      client,
      headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.text() };
  } finally {
    client.close();
  }
}

function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

function fromB64url(text: string): string {
  return atob(text.replace(/-/g, "+").replace(/_/g, "/"));
}

/** `token` with its times moved an hour into the past, signed again with the issuer's key. */
async function expire(token: string, keyPath: string): Promise<string> {
  const [header, payload] = token.split(".");
  const claims = JSON.parse(fromB64url(payload));
  const now = Math.floor(Date.now() / 1000);
  Object.assign(claims, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
  const unsigned = `${header}.${b64url(JSON.stringify(claims))}`;
  const signature = createSign("RSA-SHA256").update(unsigned).sign(
    await Deno.readTextFile(keyPath),
  );
  return `${unsigned}.${b64url(new Uint8Array(signature))}`;
}

Deno.test({
  name: "kubelet API security: certificates, tokens, SubjectAccessReview and caches",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cp = await startControlPlane();
    const otherDir = await Deno.makeTempDir({ prefix: "vzk-other-ca-" });
    const world = await startKubeletWorld(cp, NODE, {
      args: [
        "--authentication-token-webhook",
        "--authentication-token-webhook-cache-ttl",
        "2",
        "--authorization-webhook-cache-unauthorized-ttl",
        "1",
      ],
    });
    const admin = adminClients(cp);
    const rbac = "/apis/rbac.authorization.k8s.io/v1";
    const ca = cp.caCertPath;
    const url = (path: string) => `https://127.0.0.1:${world.config.kubeletPort}${path}`;
    const token = async (name: string) => {
      const res = await admin.core.createNamespacedServiceAccountToken({
        name,
        namespace: "default",
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: {} },
      });
      return res.status!.token!;
    };
    try {
      await admin.core.createNamespacedServiceAccount({
        namespace: "default",
        body: { metadata: { name: "viewer" } },
      });

      await t.step("no credentials: 401 with a Status", async () => {
        const r = await call(url("/healthz"), { caCert: ca });
        assert.equal(r.status, 401);
        const status = JSON.parse(r.body);
        assert.equal(status.kind, "Status");
        assert.equal(status.reason, "Unauthorized");
      });

      await t.step("a client certificate from another CA is refused", async () => {
        const other = await createPki(otherDir);
        const r = await call(url("/pods"), {
          caCert: ca,
          cert: other.kubeletClient.cert,
          key: other.kubeletClient.key,
        });
        assert.equal(r.status, 401);
      });

      await t.step("the API server's kubelet-client certificate is accepted", async () => {
        const r = await call(url("/healthz"), {
          caCert: ca,
          cert: cp.kubeletClientCertPath,
          key: cp.kubeletClientKeyPath,
        });
        assert.deepEqual(r, { status: 200, body: "ok" });
      });

      const viewer = await token("viewer");

      await t.step(
        "a token without nodes/proxy rights: 403 naming user, verb and subresources",
        async () => {
          const r = await call(url("/pods"), { caCert: ca, token: viewer });
          assert.equal(r.status, 403);
          const status = JSON.parse(r.body);
          assert.equal(status.reason, "Forbidden");
          assert.equal(
            status.message,
            "Forbidden (user=system:serviceaccount:default:viewer, verb=get, resource=nodes, " +
              "subresource(s)=[pods proxy])",
          );
          assert.equal(
            (await call(url("/stats/summary"), { caCert: ca, token: viewer })).status,
            403,
          );
        },
      );

      await t.step("granted nodes/proxy and nodes/stats: the same token succeeds", async () => {
        const role: k8s.V1ClusterRole = {
          metadata: { name: "node-viewer" },
          rules: [{ apiGroups: [""], resources: ["nodes/proxy", "nodes/stats"], verbs: ["get"] }],
        };
        await admin.rest.request("POST", `${rbac}/clusterroles`, { body: role });
        const binding: k8s.V1ClusterRoleBinding = {
          metadata: { name: "node-viewer" },
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: "node-viewer",
          },
          subjects: [{ kind: "ServiceAccount", name: "viewer", namespace: "default" }],
        };
        await admin.rest.request("POST", `${rbac}/clusterrolebindings`, { body: binding });
        // The denied answer is cached for 1 s (--authorization-webhook-cache-unauthorized-ttl).
        const pods = await eventually(
          "access granted",
          async () => {
            const r = await call(url("/pods"), { caCert: ca, token: viewer });
            return r.status === 200 && r;
          },
          15_000,
          300,
        );
        assert.equal(JSON.parse(pods.body).kind, "PodList");
        const stats = await call(url("/stats/summary"), { caCert: ca, token: viewer });
        assert.equal(stats.status, 200);
        assert.equal(JSON.parse(stats.body).node.nodeName, NODE);
        const metrics = await call(url("/metrics"), { caCert: ca, token: viewer });
        assert.equal(metrics.status, 403, "metrics is its own subresource");
      });

      await t.step("an expired token fails; so does a forged one", async () => {
        const expired = await expire(viewer, `${cp.dir}/pki/service-account.key`);
        const r = await call(url("/pods"), { caCert: ca, token: expired });
        assert.equal(r.status, 401);
        const forged = viewer.slice(0, -4) + (viewer.endsWith("AAAA") ? "BBBB" : "AAAA");
        assert.equal((await call(url("/pods"), { caCert: ca, token: forged })).status, 401);
        assert.equal((await call(url("/pods"), { caCert: ca, token: "not-a-jwt" })).status, 401);
      });
    } finally {
      await world.stop();
      await cp.stop();
      await Deno.remove(otherDir, { recursive: true }).catch(() => {});
    }
  },
});
