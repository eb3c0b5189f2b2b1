// Images built BY HAND from the documented format (docs/image-format.md, which keeps the Go
// system's compatibility facts): blobs compressed with GNU gzip and node:zlib, uploaded and
// tagged with raw fetch calls, no code of ours involved. Both manifest forms (config.json as a
// layer, and the older form with it as the manifest's config), shuffled layer order, an
// uncompressed aux layer. A lying uncompressed-digest annotation is caught and leaves
// nothing in the store.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { pullImage } from "../../src/image/pull/pull.ts";
import { ImageStore } from "../../src/image/store/store.ts";
import {
  FAST_RETRY,
  imageWorld,
  listTree,
  makeSparseDisk,
  MiB,
  sha256File,
} from "./image_support.ts";

const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");

async function putBlob(host: string, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = sha(bytes);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get("location")!, `http://${host}`);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: bytes as Uint8Array<ArrayBuffer> });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

async function putManifest(host: string, repo: string, tag: string, manifest: unknown) {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    body: JSON.stringify(manifest),
  });
  assert.equal(r.status, 201, await r.text());
}

async function gnuGzip(path: string): Promise<Uint8Array> {
  const out = await new Deno.Command("gzip", { args: ["-c", "-6", path], stdout: "piped" })
    .output();
  assert.ok(out.success);
  return out.stdout;
}

Deno.test("image hand-built: existing-format images pull correctly", async (t) => {
  const world = await imageWorld("vzk-image-handbuilt-");
  const host = world.registry.host;
  const client = new RegistryClient({ retry: FAST_RETRY });
  try {
    const diskPath = `${world.dir}/disk.img`;
    await makeSparseDisk(diskPath, 32 * MiB, 7);
    const disk = await Deno.readFile(diskPath);
    const aux = new Uint8Array(2 * MiB);
    aux.set(new TextEncoder().encode("nvram ".repeat(1000)), 4096);
    const diskGz = await gnuGzip(diskPath);
    const auxGz = new Uint8Array(zlib.gzipSync(aux));
    const config = new TextEncoder().encode(JSON.stringify({
      mediatype: "application/vnd.agoda.macosvz.config.v1+json",
      os: "darwin",
      hardwareModelData: "YnBsaXN0MDDTAQIDBAUG",
      machineIdData: "YnBsaXN0MDDRAQJURUNJRBMW",
      storage: [
        { mediatype: "application/vnd.agoda.macosvz.aux.image.v1", file: "aux.img" },
        { mediatype: "application/vnd.agoda.macosvz.disk.image.v1", file: "disk.img" },
      ],
    }));
    const repo = "handmade/macos";
    const empty = new TextEncoder().encode("{}");
    const emptyDigest = await putBlob(host, repo, empty);
    const diskLayer = {
      mediaType: "application/vnd.agoda.macosvz.disk.image.v1",
      digest: await putBlob(host, repo, diskGz),
      size: diskGz.length,
      annotations: {
        "org.opencontainers.image.title": "disk.img",
        "com.agoda.macosvz.content.uncompressed-digest": sha(disk),
        "com.agoda.macosvz.content.uncompressed-size": String(disk.length),
      },
    };
    const auxLayer = {
      mediaType: "application/vnd.agoda.macosvz.aux.image.v1",
      digest: await putBlob(host, repo, auxGz),
      size: auxGz.length,
      annotations: {
        "org.opencontainers.image.title": "aux.img",
        "com.agoda.macosvz.content.uncompressed-digest": sha(aux),
        "com.agoda.macosvz.content.uncompressed-size": String(aux.length),
      },
    };
    const configLayer = {
      mediaType: "application/vnd.agoda.macosvz.config.v1+json",
      digest: await putBlob(host, repo, config),
      size: config.length,
      annotations: { "org.opencontainers.image.title": "config.json" },
    };

    const check = async (tag: string, store: ImageStore) => {
      const pulled = await pullImage(client, store, parseReference(`${host}/${repo}:${tag}`));
      assert.equal(await sha256File(pulled.files.disk!), sha(disk));
      assert.equal(await sha256File(pulled.files.aux!), sha(aux));
      assert.equal(pulled.darwin?.hardwareModelData, "YnBsaXN0MDDTAQIDBAUG");
      assert.equal(pulled.darwin?.machineIdData, "YnBsaXN0MDDRAQJURUNJRBMW");
      assert.deepEqual(await Deno.readFile(pulled.configPath), config);
      return pulled;
    };

    await t.step("current form: empty config, config.json layer first", async () => {
      await putManifest(host, repo, "current", {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.agoda.macosvz.artifact",
        config: {
          mediaType: "application/vnd.oci.empty.v1+json",
          digest: emptyDigest,
          size: 2,
          data: "e30=",
          platform: { architecture: "arm64", os: "darwin" },
        },
        layers: [configLayer, auxLayer, diskLayer],
        annotations: { "org.opencontainers.image.created": "2024-05-01T10:00:00Z" },
      });
      await check("current", await ImageStore.open(`${world.dir}/c1`));
    });

    await t.step("older form: config.json as the manifest's config, no artifactType", async () => {
      await putManifest(host, repo, "older", {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: configLayer,
        layers: [diskLayer, auxLayer],
      });
      await check("older", await ImageStore.open(`${world.dir}/c2`));
    });

    await t.step("uncompressed aux layer (no annotations) is taken as is", async () => {
      const rawAux = {
        mediaType: "application/vnd.agoda.macosvz.aux.image.v1",
        digest: await putBlob(host, repo, aux),
        size: aux.length,
        annotations: { "org.opencontainers.image.title": "aux.img" },
      };
      await putManifest(host, repo, "raw-aux", {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.agoda.macosvz.artifact",
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: 2 },
        layers: [diskLayer, rawAux, configLayer],
      });
      await check("raw-aux", await ImageStore.open(`${world.dir}/c3`));
    });

    await t.step("a wrong uncompressed digest fails and leaves nothing behind", async () => {
      const liar = structuredClone(diskLayer);
      liar.annotations["com.agoda.macosvz.content.uncompressed-digest"] = sha(new Uint8Array(1));
      await putManifest(host, repo, "liar", {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: configLayer,
        layers: [liar, auxLayer],
      });
      const store = await ImageStore.open(`${world.dir}/c4`);
      await assert.rejects(
        pullImage(client, store, parseReference(`${host}/${repo}:liar`)),
        (e: Error) =>
          e.message.includes(`image ${host}/${repo}:liar`) &&
          e.message.includes(`layer ${diskLayer.digest}`) &&
          /uncompressed: digest mismatch/.test(e.message),
      );
      const files = (await listTree(`${store.layout.root}/files`)).filter((f) =>
        !f.endsWith(".verified")
      );
      for (const f of files) {
        const bytes = await Deno.readFile(`${store.layout.root}/files/${f}`);
        assert.equal(sha(bytes), sha(aux), "only the aux file (verified) is in the store");
      }
      assert.deepEqual(await listTree(store.layout.tmpDir), []);
      assert.equal(await store.lookup(`${host}/${repo}:liar`), undefined);
    });
  } finally {
    client.close();
    await world.close();
  }
});
