// Unit tests of src/image/format.ts: how manifests map to guest files in both forms, and
// which malformed images are refused (chunk gaps, missing layers, bad annotations, unsafe
// titles).

import assert from "node:assert/strict";
import {
  configDescriptor,
  contentId,
  fileFor,
  imageLayout,
} from "../../src/image/format/layout.ts";
import type { Descriptor, ImageManifest } from "../../src/image/format/manifest.ts";
import * as MT from "../../src/image/format/media_types.ts";
import { agodaConfigJson } from "../../src/image/push/push.ts";

const d = (c: string) => "sha256:" + c.repeat(64);
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const darwin = { hardwareModelData: "aHc=", machineIdData: "aWQ=" };

function agoda(layers: Descriptor[], config?: Descriptor): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MT.OCI_MANIFEST,
    artifactType: MT.AGODA_ARTIFACT,
    config: config ?? { mediaType: MT.OCI_EMPTY, digest: MT.OCI_EMPTY_DIGEST, size: 2 },
    layers,
  };
}

const diskLayer: Descriptor = {
  mediaType: MT.AGODA_DISK,
  digest: d("1"),
  size: 100,
  annotations: {
    [MT.ANNOTATION_TITLE]: "disk.img",
    [MT.AGODA_UNCOMPRESSED_DIGEST]: d("2"),
    [MT.AGODA_UNCOMPRESSED_SIZE]: "1000",
  },
};
const auxLayer: Descriptor = {
  mediaType: MT.AGODA_AUX,
  digest: d("3"),
  size: 50,
  annotations: { [MT.ANNOTATION_TITLE]: "aux.img" },
};
const configLayer: Descriptor = {
  mediaType: MT.AGODA_CONFIG,
  digest: d("4"),
  size: 10,
  annotations: { [MT.ANNOTATION_TITLE]: "config.json" },
};

Deno.test("image format: Agoda form in both manifest shapes and any order", () => {
  const config = agodaConfigJson(darwin);
  for (
    const m of [
      agoda([auxLayer, configLayer, diskLayer]),
      agoda([diskLayer, auxLayer], configLayer),
    ]
  ) {
    assert.equal(configDescriptor(m).digest, d("4"));
    const layout = imageLayout(m, config);
    assert.equal(layout.form, "agoda");
    assert.deepEqual(layout.darwin, darwin);
    const disk = fileFor(layout, "disk")!;
    assert.equal(disk.name, "disk.img");
    assert.equal(disk.size, 1000);
    assert.equal(disk.id, contentId(disk.parts), "keyed on the layer and its annotation");
    assert.equal(disk.parts[0].digest, d("2"));
    assert.equal(disk.parts[0].compression, "gzip");
    const aux = fileFor(layout, "aux")!;
    assert.equal(aux.parts[0].compression, "none", "no annotations: stored as is");
    assert.equal(aux.parts[0].digest, d("3"));
  }
  assert.equal(
    new TextDecoder().decode(agodaConfigJson(darwin)),
    '{"mediatype":"application/vnd.agoda.macosvz.config.v1+json","os":"darwin",' +
      '"hardwareModelData":"aHc=","machineIdData":"aWQ=","storage":[' +
      '{"mediatype":"application/vnd.agoda.macosvz.aux.image.v1","file":"aux.img"},' +
      '{"mediatype":"application/vnd.agoda.macosvz.disk.image.v1","file":"disk.img"}]}',
  );
});

Deno.test("image format: malformed Agoda images are refused with a reason", () => {
  const config = agodaConfigJson(darwin);
  assert.throws(() => imageLayout(agoda([auxLayer, configLayer]), config), /no disk layer/);
  assert.throws(() => imageLayout(agoda([diskLayer, configLayer]), config), /no auxiliary storage/);
  assert.throws(
    () => imageLayout(agoda([diskLayer, diskLayer, auxLayer]), config),
    /more than one/,
  );
  assert.throws(() => configDescriptor(agoda([diskLayer])), /not a VM image/);
  assert.throws(
    () => imageLayout(agoda([diskLayer, auxLayer]), enc({ os: "darwin" })),
    /hardwareModelData/,
  );
  const badSize = structuredClone(diskLayer);
  badSize.annotations![MT.AGODA_UNCOMPRESSED_SIZE] = "12GB";
  assert.throws(() => imageLayout(agoda([badSize, auxLayer]), config), /not a byte count/);
  const evil = structuredClone(diskLayer);
  evil.annotations![MT.ANNOTATION_TITLE] = "../../etc/passwd";
  assert.throws(() => imageLayout(agoda([evil, auxLayer]), config), /unusable file name/);
});

function chunk(offset: number, size: number, fileSize: number, c: string): Descriptor {
  return {
    mediaType: MT.VZK_CHUNK_GZIP,
    digest: d(c),
    size: 10,
    annotations: {
      [MT.ANNOTATION_TITLE]: "disk.img",
      [MT.VZK_CHUNK_OFFSET]: String(offset),
      [MT.VZK_UNCOMPRESSED_SIZE]: String(size),
      [MT.VZK_UNCOMPRESSED_DIGEST]: d(c),
      [MT.VZK_FILE_SIZE]: String(fileSize),
    },
  };
}

function ours(layers: Descriptor[]): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MT.OCI_MANIFEST,
    artifactType: MT.VZK_ARTIFACT,
    config: { mediaType: MT.VZK_CONFIG, digest: d("9"), size: 1 },
    layers,
  };
}

Deno.test("image format: our chunked and Linux forms", () => {
  const kernel: Descriptor = {
    mediaType: MT.VZK_FILE,
    digest: d("7"),
    size: 42,
    annotations: { [MT.ANNOTATION_TITLE]: "vmlinuz" },
  };
  const config = enc({
    os: "linux",
    files: { kernel: "vmlinuz", disk: "disk.img" },
    linux: { cmdline: "quiet" },
  });
  const layers = [chunk(8, 8, 20, "b"), kernel, chunk(0, 8, 20, "a"), chunk(16, 4, 20, "c")];
  const layout = imageLayout(ours(layers), config);
  assert.equal(layout.os, "linux");
  assert.equal(layout.linux?.cmdline, "quiet");
  const disk = fileFor(layout, "disk")!;
  assert.deepEqual(disk.parts.map((p) => p.offset), [0, 8, 16]);
  assert.equal(disk.size, 20);
  assert.equal(disk.id, contentId(disk.parts));
  assert.notEqual(disk.id, contentId([...disk.parts].reverse()));
  const otherLayer = disk.parts.map((p, i) =>
    i === 1 ? { ...p, layer: { ...p.layer, digest: d("9") } } : p
  );
  assert.notEqual(disk.id, contentId(otherLayer), "another layer digest is another file");
  assert.equal(fileFor(layout, "kernel")?.parts[0].digest, d("7"));
  assert.equal(fileFor(layout, "initrd"), undefined);

  assert.throws(
    () => imageLayout(ours([chunk(0, 8, 20, "a"), chunk(10, 10, 20, "b"), kernel]), config),
    /gap or overlap at byte 8/,
  );
  assert.throws(() => imageLayout(ours([chunk(0, 8, 20, "a"), kernel]), config), /cover 8 of 20/);
  assert.throws(
    () => imageLayout(ours([chunk(0, 8, 16, "a"), chunk(8, 8, 20, "b"), kernel]), config),
    /disagree/,
  );
  assert.throws(() => imageLayout(ours([kernel]), config), /no layer titled disk.img/);

  // Chunks written without an uncompressed digest (what our push writes now); a malformed
  // one is still refused.
  const bare = layers.map((l) => {
    const copy = structuredClone(l);
    delete copy.annotations?.[MT.VZK_UNCOMPRESSED_DIGEST];
    return copy;
  });
  const bareDisk = fileFor(imageLayout(ours(bare), config), "disk")!;
  assert.deepEqual(bareDisk.parts.map((p) => p.digest), [undefined, undefined, undefined]);
  assert.notEqual(bareDisk.id, disk.id, "with and without digests are two identities");
  const badDigest = structuredClone(bare);
  badDigest[0].annotations![MT.VZK_UNCOMPRESSED_DIGEST] = "sha256:nothex";
  assert.throws(
    () => imageLayout(ours(badDigest), config),
    /annotation dev\.macosvzkubelet\.uncompressed-digest/,
  );
  assert.throws(
    () =>
      imageLayout(
        ours(layers),
        enc({ os: "linux", files: { disk: "disk.img" }, linux: { cmdline: "" } }),
      ),
    /needs kernel and disk/,
  );
  assert.throws(() => imageLayout(ours(layers), enc({ os: "windows", files: {} })), /unknown os/);
});
