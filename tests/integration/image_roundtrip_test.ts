// Push then pull through the real registry, in every form: the Agoda form (byte-identical
// disk and aux, sparse on disk, the exact media types and annotations), our chunked form
// (identical chunks deduplicated, parallel chunk pulls), and a Linux guest (kernel, initrd,
// disk, cmdline). A second pull of a cached image downloads nothing.

import assert from "node:assert/strict";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { pushImage } from "../../src/image/push/push.ts";
import { pullImage } from "../../src/image/pull/pull.ts";
import { ImageStore } from "../../src/image/store/store.ts";
import * as MT from "../../src/image/format/media_types.ts";
import {
  allocatedBytes,
  FAST_RETRY,
  HW_MODEL,
  imageWorld,
  MACHINE_ID,
  makeSparseDisk,
  MiB,
  randomBytes,
  sha256File,
} from "./image_support.ts";

Deno.test("image round trip: Agoda form, chunked form and a Linux guest", async (t) => {
  const world = await imageWorld("vzk-image-roundtrip-");
  const client = new RegistryClient({ retry: FAST_RETRY });
  const src = `${world.dir}/src`;
  await Deno.mkdir(src);
  const disk = `${src}/disk.img`;
  const aux = `${src}/aux.img`;
  await makeSparseDisk(disk, 64 * MiB);
  await Deno.writeFile(aux, crypto.getRandomValues(new Uint8Array(65536)));
  const diskDigest = await sha256File(disk);
  const auxDigest = await sha256File(aux);
  const store = await ImageStore.open(`${world.dir}/cache`);
  const tmpDir = store.layout.tmpDir;
  try {
    await t.step(
      "Agoda form: push, manifest as the Go system writes it, pull identical",
      async () => {
        const ref = parseReference(`${world.registry.host}/vm/macos:14`);
        const pushed = await pushImage(client, ref, {
          os: "darwin",
          files: { disk, aux },
          darwin: { hardwareModelData: HW_MODEL, machineIdData: MACHINE_ID },
        }, { tmpDir, workers: 2 });
        const m = pushed.manifest;
        assert.equal(m.artifactType, MT.AGODA_ARTIFACT);
        assert.equal(m.config.mediaType, MT.OCI_EMPTY);
        assert.deepEqual(m.config.platform, { os: "darwin", architecture: "arm64" });
        const byType = new Map(m.layers.map((l) => [l.mediaType, l]));
        const d = byType.get(MT.AGODA_DISK)!;
        assert.equal(d.annotations?.[MT.ANNOTATION_TITLE], "disk.img");
        assert.equal(d.annotations?.[MT.AGODA_UNCOMPRESSED_DIGEST], diskDigest);
        assert.equal(d.annotations?.[MT.AGODA_UNCOMPRESSED_SIZE], String(64 * MiB));
        assert.ok(d.size < 8 * MiB, `disk compressed to ${d.size}`);
        assert.equal(
          byType.get(MT.AGODA_AUX)?.annotations?.[MT.AGODA_UNCOMPRESSED_DIGEST],
          auxDigest,
        );
        assert.equal(
          byType.get(MT.AGODA_CONFIG)?.annotations?.[MT.ANNOTATION_TITLE],
          "config.json",
        );

        // An independent decoder agrees: GNU gzip reads our parallel-gzip blob.
        const blob = await fetch(`http://${world.registry.host}/v2/vm/macos/blobs/${d.digest}`);
        const gunzip = new Deno.Command("sh", {
          args: ["-c", "gzip -dc | sha256sum"],
          stdin: "piped",
          stdout: "piped",
        }).spawn();
        await blob.body!.pipeTo(gunzip.stdin);
        const out = new TextDecoder().decode((await gunzip.output()).stdout);
        assert.equal(`sha256:${out.split(" ")[0]}`, diskDigest);

        const pulled = await pullImage(client, store, ref);
        assert.equal(pulled.manifestDigest, pushed.digest);
        assert.equal(pulled.os, "darwin");
        assert.equal(await sha256File(pulled.files.disk!), diskDigest);
        assert.equal(await sha256File(pulled.files.aux!), auxDigest);
        const allocated = await allocatedBytes(pulled.files.disk!);
        assert.ok(allocated < 16 * MiB, `disk is sparse: ${allocated} bytes allocated of 64 MiB`);
        const config = JSON.parse(await Deno.readTextFile(pulled.configPath));
        assert.equal(config.hardwareModelData, HW_MODEL);
        assert.equal(config.machineIdData, MACHINE_ID);
        assert.deepEqual(pulled.darwin, { hardwareModelData: HW_MODEL, machineIdData: MACHINE_ID });
        assert.ok(pulled.downloadedBytes > 0);

        const again = await pullImage(client, store, ref);
        assert.equal(again.downloadedBytes, 0, "second pull is served from the store");
        assert.equal(
          (await store.lookup(`${world.registry.host}/vm/macos:14`))?.manifestDigest,
          pushed.digest,
        );
      },
    );

    await t.step("chunked form: identical chunks stored once, pulled in parallel", async () => {
      const ref = parseReference(`${world.registry.host}/vm/macos:14-chunked`);
      const pushed = await pushImage(client, ref, {
        os: "darwin",
        files: { disk, aux },
        darwin: { hardwareModelData: HW_MODEL, machineIdData: MACHINE_ID },
      }, { tmpDir, chunked: true, chunkSize: 4 * MiB, concurrency: 3, workers: 2 });
      const m = pushed.manifest;
      assert.equal(m.artifactType, MT.VZK_ARTIFACT);
      assert.equal(m.config.mediaType, MT.VZK_CONFIG);
      const chunks = m.layers.filter((l) => l.mediaType === MT.VZK_CHUNK_GZIP);
      assert.equal(chunks.length, 16);
      const distinct = new Set(chunks.map((c) => c.digest));
      assert.ok(distinct.size <= 5, `all-zero chunks share one blob (${distinct.size} distinct)`);
      for (const c of chunks) {
        assert.equal(c.annotations?.[MT.VZK_UNCOMPRESSED_SIZE], String(4 * MiB));
        assert.equal(c.annotations?.[MT.VZK_UNCOMPRESSED_DIGEST], undefined, "no second digest");
      }
      assert.ok(!JSON.stringify(m).includes("agoda"), "our form never uses the agoda prefix");

      // A fresh store so nothing is shared with the Agoda-form pull above.
      const store2 = await ImageStore.open(`${world.dir}/cache2`);
      const pulled = await pullImage(client, store2, ref, { concurrency: 4 });
      assert.equal(await sha256File(pulled.files.disk!), diskDigest);
      assert.equal(await sha256File(pulled.files.aux!), auxDigest);
      assert.ok(await allocatedBytes(pulled.files.disk!) < 16 * MiB);
      assert.equal(pulled.form, "vzk");
    });

    await t.step("Linux guest: kernel, initrd, disk and cmdline", async () => {
      const kernel = `${src}/vmlinuz`;
      const initrd = `${src}/initrd.img`;
      await Deno.writeFile(kernel, randomBytes(300_000));
      await Deno.writeFile(initrd, randomBytes(100_000));
      const ref = parseReference(`${world.registry.host}/vm/linux:1`);
      const cmdline = "console=ttyS0 root=/dev/vda rw";
      await pushImage(client, ref, {
        os: "linux",
        files: { kernel, initrd, disk },
        cmdline,
        architecture: "amd64",
      }, { tmpDir, chunked: true, chunkSize: 16 * MiB });
      const pulled = await pullImage(client, store, ref);
      assert.equal(pulled.os, "linux");
      assert.equal(pulled.linux?.cmdline, cmdline);
      assert.equal(await sha256File(pulled.files.kernel!), await sha256File(kernel));
      assert.equal(await sha256File(pulled.files.initrd!), await sha256File(initrd));
      assert.equal(await sha256File(pulled.files.disk!), diskDigest);
    });
  } finally {
    client.close();
    await world.close();
  }
});
