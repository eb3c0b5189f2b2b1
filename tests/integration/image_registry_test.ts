// The registry client against a real registry (Debian's docker-registry, anonymous and
// htpasswd twins): blob upload (single PUT and PATCH parts), manifest push and fetch by tag
// and digest, image index resolution by platform, streamed blob reads, good and bad
// credentials.

import assert from "node:assert/strict";
import { startRegistry } from "../harness/registry.ts";
import { makeRunDir, releaseRunDir } from "../harness/run_dir.ts";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { memorySource, uploadBlob } from "../../src/image/registry/upload.ts";
import { blobStream } from "../../src/image/registry/blob_stream.ts";
import { sha256Of } from "../../src/image/format/digest.ts";
import { staticCredentials } from "../../src/image/registry/credentials.ts";
import { AuthError, NotFoundError } from "../../src/image/registry/errors.ts";
import {
  OCI_EMPTY,
  OCI_EMPTY_DIGEST,
  OCI_INDEX,
  OCI_MANIFEST,
} from "../../src/image/format/media_types.ts";

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function manifestFor(layer: { digest: string; size: number }): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: "application/vnd.example.test",
    config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
    layers: [{ mediaType: "application/octet-stream", ...layer }],
  }));
}

Deno.test("image registry: push and pull blobs and manifests, anonymous and htpasswd", async (t) => {
  const dir = await makeRunDir("vzk-image-registry-");
  const registry = await startRegistry({ dir });
  try {
    const client = new RegistryClient({ retry: FAST });
    const ref = parseReference(`${registry.host}/test/blobs:v1`);
    const small = crypto.getRandomValues(new Uint8Array(1000));
    const big = new Uint8Array(5 << 20);
    for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 4096));
    const smallDigest = sha256Of(small);
    const bigDigest = sha256Of(big);

    await t.step("uploads: one PUT, PATCH parts, then already present", async () => {
      assert.equal(await client.hasBlob(ref, smallDigest), false);
      assert.equal(await uploadBlob(client, ref, smallDigest, memorySource(small)), "uploaded");
      let seen = 0;
      assert.equal(
        await uploadBlob(client, ref, bigDigest, memorySource(big), {
          partSize: 1 << 20,
          onBytes: (n) => seen += n,
        }),
        "uploaded",
      );
      assert.equal(seen, big.length);
      assert.equal(await uploadBlob(client, ref, bigDigest, memorySource(big)), "exists");
      const empty = new TextEncoder().encode("{}");
      await uploadBlob(client, ref, OCI_EMPTY_DIGEST, memorySource(empty));
    });

    await t.step("a wrong digest is refused by the registry", async () => {
      await assert.rejects(
        uploadBlob(client, ref, sha256Of("something else"), memorySource(small)),
        /blob sha256:/,
      );
    });

    await t.step("manifest by tag and by digest; blobs streamed back", async () => {
      const bytes = manifestFor({ digest: bigDigest, size: big.length });
      const digest = await client.putManifest(ref, bytes, OCI_MANIFEST);
      const byTag = await client.resolveManifest(ref, { os: "darwin", architecture: "arm64" });
      assert.equal(byTag.digest, digest);
      assert.equal(byTag.manifest.layers[0].digest, bigDigest);
      const byDigest = await client.fetchManifestBytes(
        parseReference(`${registry.host}/test/blobs@${digest}`),
      );
      assert.deepEqual(byDigest.bytes, bytes);
      const got = await collect(blobStream(client, ref, byTag.manifest.layers[0]));
      assert.equal(sha256Of(got), bigDigest);
      const tail = await collect(
        blobStream(client, ref, byTag.manifest.layers[0], { offset: big.length - 10 }),
      );
      assert.deepEqual(tail, big.subarray(big.length - 10));
    });

    await t.step("an image index resolves by platform", async () => {
      const linux = manifestFor({ digest: smallDigest, size: small.length });
      const darwin = manifestFor({ digest: bigDigest, size: big.length });
      const ld = await client.putManifest(ref, linux, OCI_MANIFEST, sha256Of(linux));
      const dd = await client.putManifest(ref, darwin, OCI_MANIFEST, sha256Of(darwin));
      const index = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: ld,
            size: linux.length,
            platform: { os: "linux", architecture: "amd64" },
          },
          {
            mediaType: OCI_MANIFEST,
            digest: dd,
            size: darwin.length,
            platform: { os: "darwin", architecture: "arm64" },
          },
        ],
      }));
      const indexRef = parseReference(`${registry.host}/test/blobs:multi`);
      const indexDigest = await client.putManifest(indexRef, index, OCI_INDEX);
      const got = await client.resolveManifest(indexRef, { os: "darwin", architecture: "arm64" });
      assert.equal(got.digest, dd);
      assert.equal(got.indexDigest, indexDigest);
      const l = await client.resolveManifest(indexRef, { os: "linux", architecture: "amd64" });
      assert.equal(l.digest, ld);
      await assert.rejects(
        client.resolveManifest(indexRef, { os: "windows", architecture: "amd64" }),
        /no manifest for platform windows\/amd64 \(index offers linux\/amd64, darwin\/arm64\)/,
      );
    });

    await t.step("missing tag is a NotFoundError naming the registry", async () => {
      const err = await client.fetchManifestBytes(
        parseReference(`${registry.host}/test/blobs:nope`),
      )
        .catch((e) => e);
      assert.ok(err instanceof NotFoundError, String(err));
      assert.match(err.message, new RegExp(`registry ${registry.host.replace(/\./g, "\\.")}`));
    });

    await t.step("htpasswd twin: good credentials read what the anonymous one stored", async () => {
      const good = new RegistryClient({
        retry: FAST,
        credentials: staticCredentials(
          new Map([[registry.authHost, {
            username: registry.username,
            password: registry.password,
          }]]),
        ),
      });
      const authRef = parseReference(`${registry.authHost}/test/blobs:v1`);
      const m = await good.resolveManifest(authRef, { os: "darwin", architecture: "arm64" });
      assert.equal(m.manifest.layers[0].digest, bigDigest);
      const got = await collect(blobStream(good, authRef, m.manifest.layers[0]));
      assert.equal(sha256Of(got), bigDigest);
      // and it can push there
      const again = crypto.getRandomValues(new Uint8Array(100));
      assert.equal(
        await uploadBlob(good, authRef, sha256Of(again), memorySource(again)),
        "uploaded",
      );
    });

    await t.step("htpasswd twin: bad or missing credentials fail naming the registry", async () => {
      const authRef = parseReference(`${registry.authHost}/test/blobs:v1`);
      const bad = new RegistryClient({
        retry: FAST,
        credentials: staticCredentials(
          new Map([[registry.authHost, { username: registry.username, password: "wrong-pw-x" }]]),
        ),
      });
      const err = await bad.fetchManifestBytes(authRef).catch((e) => e);
      assert.ok(err instanceof AuthError, String(err));
      assert.match(
        err.message,
        new RegExp(
          `registry ${
            registry.authHost.replace(/\./g, "\\.")
          } rejected the credentials of user "vzk"`,
        ),
      );
      assert.ok(!err.message.includes("wrong-pw-x"));
      const none = new RegistryClient({ retry: FAST });
      const err2 = await none.fetchManifestBytes(authRef).catch((e) => e);
      assert.ok(err2 instanceof AuthError, String(err2));
      assert.match(err2.message, /requires authentication and no credentials are configured/);
    });
  } finally {
    await registry.stop();
    await releaseRunDir(dir);
  }
});
