// Unit tests of the image subsystem's parsers: references, WWW-Authenticate challenges,
// manifests and indexes (platform choice), Docker credential files, loopback detection and
// the transport's scheme choice, certificate errors.

import assert from "node:assert/strict";
import { formatReference, parseReference } from "../../src/image/registry/reference.ts";
import { parseWwwAuthenticate } from "../../src/image/registry/www_authenticate.ts";
import { parseManifest, selectPlatform } from "../../src/image/format/manifest.ts";
import {
  normaliseRegistryKey,
  parseDockerCfg,
  parseDockerConfigJson,
  staticCredentials,
} from "../../src/image/registry/credentials.ts";
import { isLoopback, Transport } from "../../src/image/registry/transport.ts";
import {
  certificateProblem,
  errorDetail,
  isRetryable,
  TlsCertificateError,
} from "../../src/image/registry/errors.ts";

const D = "sha256:" + "a".repeat(64);

Deno.test("image reference: registries, Docker Hub defaults, tags and digests", () => {
  assert.deepEqual(parseReference("debian"), {
    registry: "docker.io",
    repository: "library/debian",
    tag: "latest",
    digest: undefined,
  });
  assert.deepEqual(parseReference("ghcr.io/agoda/macos:14.5"), {
    registry: "ghcr.io",
    repository: "agoda/macos",
    tag: "14.5",
    digest: undefined,
  });
  const r = parseReference(`127.0.0.1:5000/a/b/c@${D}`);
  assert.equal(r.registry, "127.0.0.1:5000");
  assert.equal(r.repository, "a/b/c");
  assert.equal(r.tag, undefined);
  assert.equal(r.digest, D);
  assert.equal(parseReference(`localhost/x:1@${D}`).tag, "1");
  assert.equal(parseReference("index.docker.io/foo/bar").registry, "docker.io");
  assert.equal(parseReference("user/repo").repository, "user/repo");
  assert.equal(parseReference("[::1]:5000/x").registry, "[::1]:5000");
  assert.equal(formatReference(parseReference("debian:12")), "docker.io/library/debian:12");
  for (const bad of ["", "UPPER/case", "a//b", "x:bad tag", `x@sha256:short`, "ghcr.io/"]) {
    assert.throws(() => parseReference(bad), /invalid image reference/, bad);
  }
});

Deno.test("image www-authenticate: bearer and basic challenges with quoted commas", () => {
  const c = parseWwwAuthenticate(
    'Bearer realm="https://auth.example/token",service="reg, one",scope="repository:a/b:pull,push"',
  );
  assert.equal(c.length, 1);
  assert.equal(c[0].scheme, "bearer");
  assert.deepEqual(c[0].params, {
    realm: "https://auth.example/token",
    service: "reg, one",
    scope: "repository:a/b:pull,push",
  });
  const two = parseWwwAuthenticate(
    'Basic realm="x\\"y", Bearer realm=https://t/tok, error=invalid_token',
  );
  assert.deepEqual(two.map((x) => x.scheme), ["basic", "bearer"]);
  assert.equal(two[0].params.realm, 'x"y');
  assert.equal(two[1].params.realm, "https://t/tok");
  assert.equal(two[1].params.error, "invalid_token");
  assert.deepEqual(parseWwwAuthenticate(""), []);
});

Deno.test("image manifest: both forms parse, bad ones are refused, platforms chosen", () => {
  const m = parseManifest(
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: D, size: 2 },
      layers: [{ mediaType: "x", digest: D, size: 5, annotations: { a: "b" } }],
    })),
    "application/vnd.oci.image.manifest.v1+json",
  );
  assert.equal(m.kind, "manifest");
  assert.throws(
    () => parseManifest(new TextEncoder().encode('{"schemaVersion":2,"config":{},"layers":[]}')),
    /manifest config: missing mediaType/,
  );
  assert.throws(
    () =>
      parseManifest(new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: "x", digest: "md5:abc", size: 1 },
        layers: [],
      }))),
    /malformed digest/,
  );
  assert.throws(() => parseManifest(new TextEncoder().encode("{")), /not JSON/);
  const idx = parseManifest(new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    manifests: [
      {
        mediaType: "m",
        digest: D,
        size: 1,
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      },
      {
        mediaType: "m",
        digest: "sha256:" + "b".repeat(64),
        size: 1,
        platform: { os: "linux", architecture: "arm64" },
      },
    ],
  })));
  assert.equal(idx.kind, "index");
  if (idx.kind !== "index") return;
  assert.equal(selectPlatform(idx.index, { os: "linux", architecture: "arm64" }).digest[7], "b");
  assert.equal(
    selectPlatform(idx.index, { os: "linux", architecture: "arm64", variant: "v8" }).digest[7],
    "a",
  );
});

Deno.test("image credentials: docker config, dockercfg, host normalisation", async () => {
  const auth = btoa("alice:s3cr:et");
  const table = parseDockerConfigJson(JSON.stringify({
    auths: {
      "https://index.docker.io/v1/": { auth },
      "ghcr.io": { identitytoken: "refresh-me" },
      "127.0.0.1:5000": { username: "bob", password: "pw" },
    },
  }));
  assert.deepEqual(table.get("docker.io"), { username: "alice", password: "s3cr:et" });
  assert.deepEqual(table.get("ghcr.io"), { identityToken: "refresh-me" });
  const creds = staticCredentials(table, parseDockerCfg(JSON.stringify({ "quay.io": { auth } })));
  assert.equal((await creds.forRegistry("127.0.0.1:5000"))?.username, "bob");
  assert.equal((await creds.forRegistry("quay.io"))?.password, "s3cr:et");
  assert.equal(await creds.forRegistry("other.io"), undefined);
  assert.equal(normaliseRegistryKey("https://Registry-1.docker.io/v2/"), "docker.io");
  assert.throws(
    () => parseDockerConfigJson(JSON.stringify({ auths: { "x.io": { auth: "bm9jb2xvbg==" } } })),
    (e: Error) => /user:password/.test(e.message) && !e.message.includes("bm9jb2xvbg"),
  );
});

Deno.test("image transport: TLS except for listed registries and plain loopback ones", async () => {
  assert.ok(isLoopback("127.0.0.1:5000"));
  assert.ok(isLoopback("localhost"));
  assert.ok(isLoopback("[::1]:5000"));
  assert.ok(!isLoopback("10.0.0.1:5000"));
  assert.ok(!isLoopback("127.example.com"));
  const t = new Transport({ insecureRegistries: ["reg.lan:5000"] });
  assert.equal(await t.baseUrl("reg.lan:5000"), "http://reg.lan:5000");
  assert.equal(await t.baseUrl("reg.lan"), "https://reg.lan");
  assert.equal(await t.baseUrl("ghcr.io"), "https://ghcr.io");
  assert.ok(t.plainAllowed("127.0.0.1:5000") && t.plainAllowed("reg.lan:5000"));
  assert.ok(!t.plainAllowed("reg.lan") && !t.plainAllowed("ghcr.io"));
  // A loopback registry speaking plain HTTP answers the TLS question with garbage: http.
  const plain = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    return new Response("{}");
  });
  try {
    const host = `127.0.0.1:${plain.addr.port}`;
    assert.equal(await t.baseUrl(host), `http://${host}`);
  } finally {
    await plain.shutdown();
  }
  // Nothing listening: plain HTTP for now (the request reports the refusal).
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  assert.equal(await t.baseUrl(closed), `http://${closed}`);
  t.close();
  const b = [1, 2, 3, 4, 10].map((a) => t.backoffMs(a));
  assert.ok(b[0] >= 187 && b[0] <= 313, String(b));
  assert.ok(b[3] > b[0] * 4);
  assert.ok(b[4] <= 12_500);
});

Deno.test("image transport: untrusted certificates are named, with the fix, and not retried", () => {
  // The shape of Deno's fetch errors: "fetch failed", the TLS layer's reason in the cause.
  const fetchError = (why: string) =>
    new TypeError("fetch failed", {
      cause: new Error(
        `error sending request for url (https://r/v2/): client error ` +
          `(Connect): ${why}`,
      ),
    });
  const unknown = fetchError("invalid peer certificate: UnknownIssuer");
  assert.equal(certificateProblem(unknown), "UnknownIssuer");
  assert.equal(certificateProblem(fetchError("tcp connect error: Connection refused")), undefined);
  assert.equal(certificateProblem(new Error("x")), undefined);
  assert.match(errorDetail(unknown), /^fetch failed: error sending .*UnknownIssuer$/);
  const err = new TlsCertificateError("127.0.0.1:5443", "UnknownIssuer");
  assert.equal(
    err.message,
    "registry 127.0.0.1:5443: TLS certificate not accepted (UnknownIssuer); if a private CA " +
      "signed it, give that CA's certificate (PEM) with --registry-ca FILE (environment " +
      "VZK_REGISTRY_CA)",
  );
  assert.equal(isRetryable(err), false);
  assert.equal(isRetryable(fetchError("tcp connect error: Connection refused")), true);
  const name = new TlsCertificateError("reg.lan", "NotValidForName");
  assert.match(name.message, /NotValidForName\); the registry must present a valid certificate/);
});
