// Tests of the test world itself: they start real control planes and registries and check
// the properties other tests rely on (authn/authz, node credentials, registry push and pull,
// side-by-side clusters, no leftover processes), plus the shape of the generated PKI.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { apiClient } from "./api_client.ts";
import { type ControlPlane, startControlPlane } from "./control_plane.ts";
import { createPki } from "./pki.ts";
import { processAlive } from "./process.ts";
import { startRegistry } from "./registry.ts";
import { makeRunDir, releaseRunDir } from "./run_dir.ts";

const holdsProcesses = { sanitizeOps: false, sanitizeResources: false };
const linux = Deno.build.os === "linux";

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[], stdin?: string): Promise<RunResult> {
  const proc = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = proc.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await proc.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function kubectl(cp: ControlPlane, kubeconfig: string, args: string[], stdin?: string) {
  return run(cp.kubectl, [`--kubeconfig=${kubeconfig}`, ...args], stdin);
}

function nodeManifest(name: string): string {
  return JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name } });
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `sha256:${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function pushBlob(
  host: string,
  repo: string,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<string> {
  const digest = await sha256(bytes);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.body?.cancel();
  assert.equal(start.status, 202);
  const url = new URL(start.headers.get("location")!, `http://${host}`);
  url.searchParams.set("digest", digest);
  const put = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: bytes,
  });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

Deno.test("pki: every certificate is X.509 v3 with the expected names and usages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-pki-test-" });
  try {
    const pki = await createPki(dir);
    const node = await pki.issueNode("node-a");
    const load = async (path: string) => new x509.X509Certificate(await Deno.readTextFile(path));
    const ca = await load(pki.caCert);
    assert.equal(ca.getExtension(x509.BasicConstraintsExtension)?.ca, true);
    for (const path of [pki.apiServer.cert, pki.admin.cert, node.clientCert, node.servingCert]) {
      const cert = await load(path);
      assert.ok(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }), path);
      assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false, path);
      assert.ok(cert.getExtension(x509.KeyUsagesExtension), path);
      assert.ok(cert.getExtension(x509.ExtendedKeyUsageExtension), path);
    }
    const apiServer = await load(pki.apiServer.cert);
    const sans = apiServer.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()
      .map((name) => name.value);
    for (const want of ["127.0.0.1", "10.0.0.1", "kubernetes.default.svc.cluster.local"]) {
      assert.ok(sans.includes(want), `apiserver SANs ${sans} lack ${want}`);
    }
    const client = await load(node.clientCert);
    assert.match(client.subject, /CN=system:node:node-a/);
    assert.match(client.subject, /O=system:nodes/);
    const serving = await load(node.servingCert);
    const servingSans = serving.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()
      .map((name) => name.value);
    assert.ok(servingSans.includes("node-a") && servingSans.includes("127.0.0.1"));
    assert.match(await Deno.readTextFile(pki.serviceAccountKey), /^-----BEGIN PRIVATE KEY-----/);
    assert.match(await Deno.readTextFile(pki.serviceAccountPub), /^-----BEGIN PUBLIC KEY-----/);
    const verify = await run("openssl", ["verify", "-CAfile", pki.caCert, node.servingCert])
      .catch(() => undefined);
    if (verify) assert.equal(verify.code, 0, verify.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "control plane: two side by side, each secured with RBAC, Node authorizer, NodeRestriction",
  ignore: !linux,
  ...holdsProcesses,
  async fn(t) {
    const started = Date.now();
    const [a, b] = await Promise.all([startControlPlane(), startControlPlane()]);
    console.log(
      `two control planes up in ${Date.now() - started} ms (startup ${a.startupMs} ms and ` +
        `${b.startupMs} ms)`,
    );
    try {
      await t.step("distinct ports and directories, both ready via kubectl", async () => {
        assert.notEqual(a.apiServerUrl, b.apiServerUrl);
        assert.notEqual(a.etcdUrl, b.etcdUrl);
        assert.notEqual(a.dir, b.dir);
        for (const cp of [a, b]) {
          const readyz = await kubectl(cp, cp.adminKubeconfig, ["get", "--raw", "/readyz"]);
          assert.equal(readyz.code, 0, readyz.stderr);
          assert.equal(readyz.stdout.trim(), "ok");
          const sa = await kubectl(cp, cp.adminKubeconfig, ["get", "serviceaccount", "default"]);
          assert.equal(sa.code, 0, sa.stderr);
        }
      });

      await t.step("a node may create its own Node and no other", async () => {
        const creds = await a.nodeCredentials("node-a");
        assert.equal((await a.nodeCredentials("node-a")).kubeconfig, creds.kubeconfig);
        const own = await kubectl(
          a,
          creds.kubeconfig,
          ["create", "-f", "-"],
          nodeManifest("node-a"),
        );
        assert.equal(own.code, 0, own.stderr);
        const other = await kubectl(
          a,
          creds.kubeconfig,
          ["create", "-f", "-"],
          nodeManifest("node-b"),
        );
        assert.notEqual(other.code, 0);
        assert.match(other.stderr, /forbidden/i);
        const nodes = await kubectl(a, a.adminKubeconfig, ["get", "nodes", "-o", "name"]);
        assert.equal(nodes.stdout.trim(), "node/node-a");
      });

      await t.step("node credentials of one cluster are worthless in the other", async () => {
        const creds = await a.nodeCredentials("node-a");
        const api = await apiClient({
          server: b.apiServerUrl,
          caCertPath: b.caCertPath,
          clientCertPath: creds.kubeconfig.replace(/kubeconfig$/, "client.crt"),
          clientKeyPath: creds.kubeconfig.replace(/kubeconfig$/, "client.key"),
        });
        try {
          const response = await api.request("GET", "/api/v1/nodes");
          assert.equal(response.status, 401);
        } catch (error) {
          // B may refuse the foreign client certificate already in the TLS handshake.
          assert.match(String(error), /certificate|handshake|tls|connection/i);
        } finally {
          api.close();
        }
      });

      await t.step("anonymous requests are rejected", async () => {
        const api = await apiClient({ server: a.apiServerUrl, caCertPath: a.caCertPath });
        try {
          const { status } = await api.request("GET", "/api/v1/namespaces/default/pods");
          assert.ok(status === 401 || status === 403, `status ${status}`);
        } finally {
          api.close();
        }
      });

      await t.step("the kubelet client certificate is a cluster admin", async () => {
        const api = await apiClient({
          server: b.apiServerUrl,
          caCertPath: b.caCertPath,
          clientCertPath: b.kubeletClientCertPath,
          clientKeyPath: b.kubeletClientKeyPath,
        });
        try {
          assert.equal((await api.request("GET", "/api/v1/nodes")).status, 200);
        } finally {
          api.close();
        }
      });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }

    await t.step("stop() leaves no process and no directory behind", async () => {
      for (const pid of [...a.pids, ...b.pids]) {
        assert.equal(processAlive(pid), false, `pid ${pid}`);
      }
      if (Deno.env.get("KEEP_TEST_WORLD") !== "1") {
        for (const dir of [a.dir, b.dir]) await assert.rejects(Deno.stat(dir));
      }
      await a.stop(); // idempotent
    });
  },
});

Deno.test({
  name: "registry: push and pull a manifest; the htpasswd twin shares storage",
  ignore: !linux,
  ...holdsProcesses,
  async fn(t) {
    const dir = await makeRunDir("vzk-registry-test-");
    const registry = await startRegistry({ dir });
    const basic = `Basic ${btoa(`${registry.username}:${registry.password}`)}`;
    const manifestType = "application/vnd.docker.distribution.manifest.v2+json";
    try {
      let manifest = "";
      let layer = new Uint8Array();
      let layerDigest = "";
      await t.step("anonymous push of blobs and a manifest, then pull", async () => {
        const config = new TextEncoder().encode(
          JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers" } }),
        );
        layer = crypto.getRandomValues(new Uint8Array(1024));
        const configDigest = await pushBlob(registry.host, "vzk/test", config);
        layerDigest = await pushBlob(registry.host, "vzk/test", layer);
        manifest = JSON.stringify({
          schemaVersion: 2,
          mediaType: manifestType,
          config: {
            mediaType: "application/vnd.docker.container.image.v1+json",
            size: config.length,
            digest: configDigest,
          },
          layers: [{
            mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
            size: layer.length,
            digest: layerDigest,
          }],
        });
        const put = await fetch(`http://${registry.host}/v2/vzk/test/manifests/v1`, {
          method: "PUT",
          headers: { "content-type": manifestType },
          body: manifest,
        });
        assert.equal(put.status, 201, await put.text());
        const get = await fetch(`http://${registry.host}/v2/vzk/test/manifests/v1`, {
          headers: { accept: manifestType },
        });
        assert.equal(get.status, 200);
        assert.equal(await get.text(), manifest);
        assert.equal(
          get.headers.get("docker-content-digest"),
          await sha256(new TextEncoder().encode(manifest)),
        );
        const blob = await fetch(`http://${registry.host}/v2/vzk/test/blobs/${layerDigest}`);
        assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), layer);
      });

      await t.step("the twin answers 401 without and 200 with credentials", async () => {
        const anonymous = await fetch(`http://${registry.authHost}/v2/`);
        await anonymous.body?.cancel();
        assert.equal(anonymous.status, 401);
        assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Basic /);
        const wrong = await fetch(`http://${registry.authHost}/v2/`, {
          headers: { authorization: `Basic ${btoa(`${registry.username}:nope`)}` },
        });
        await wrong.body?.cancel();
        assert.equal(wrong.status, 401);
        const ok = await fetch(`http://${registry.authHost}/v2/`, {
          headers: { authorization: basic },
        });
        await ok.body?.cancel();
        assert.equal(ok.status, 200);
        const get = await fetch(`http://${registry.authHost}/v2/vzk/test/manifests/v1`, {
          headers: { authorization: basic, accept: manifestType },
        });
        assert.equal(get.status, 200);
        assert.equal(await get.text(), manifest);
      });
    } finally {
      await registry.stop();
    }
    await t.step("stop() leaves no process behind", () => {
      for (const pid of registry.pids) assert.equal(processAlive(pid), false, `pid ${pid}`);
    });
    await releaseRunDir(dir);
  },
});
