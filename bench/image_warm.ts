// Warm validation: looking up a cached 64 GiB sparse VM image (a stat of each file against
// its verification record, and the record against its stored manifest), median of 5.

import { ImageStore } from "../src/image/store/store.ts";
import { recordVerified, writeFileAtomic } from "../src/image/store/store_fs.ts";
import { sha256Of } from "../src/image/format/digest.ts";
import { imageLayout } from "../src/image/format/layout.ts";
import { encodeJson, type ImageManifest } from "../src/image/format/manifest.ts";
import * as MT from "../src/image/format/media_types.ts";
import { agodaConfigJson } from "../src/image/push/push.ts";
import { DARWIN } from "./image_world.ts";

const GiB = 1 << 30;

export async function warmValidationMs(dir: string): Promise<number> {
  const store = await ImageStore.open(`${dir}/warm-cache`);
  const configBytes = agodaConfigJson(DARWIN);
  const raw = (title: string, mediaType: string, size: number) => ({
    mediaType,
    digest: sha256Of(`bench ${title}`),
    size,
    annotations: { [MT.ANNOTATION_TITLE]: title },
  });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MT.OCI_MANIFEST,
    config: { mediaType: MT.OCI_EMPTY, digest: MT.OCI_EMPTY_DIGEST, size: 2 },
    layers: [
      raw("disk.img", MT.AGODA_DISK, 64 * GiB),
      raw("aux.img", MT.AGODA_AUX, 1024),
      { ...raw("config.json", MT.AGODA_CONFIG, configBytes.length), digest: sha256Of(configBytes) },
    ],
  };
  const manifestBytes = encodeJson(manifest);
  const manifestDigest = sha256Of(manifestBytes);
  const layout = imageLayout(manifest, configBytes);
  await writeFileAtomic(store.layout.blobPath(manifestDigest), manifestBytes);
  await writeFileAtomic(store.layout.blobPath(sha256Of(configBytes)), configBytes);
  for (const file of layout.files) {
    const f = await Deno.open(store.layout.filePath(file.id), { write: true, create: true });
    await f.truncate(file.size);
    f.close();
    await recordVerified(store.layout.filePath(file.id), file.id);
  }
  const now = new Date().toISOString();
  await store.writeImage({
    manifestDigest,
    references: ["bench/warm:1"],
    os: "darwin",
    form: "agoda",
    configDigest: sha256Of(configBytes),
    files: layout.files.map((f) => ({ role: f.role, name: f.name, id: f.id, size: f.size })),
    compressedSize: 0,
    pulledAt: now,
    lastUsedAt: now,
  });
  await store.writeRef({ reference: "bench/warm:1", manifestDigest, updatedAt: now });
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const img = await store.lookup("bench/warm:1");
    times.push(performance.now() - t);
    if (!img) throw new Error("warm lookup failed");
  }
  times.sort((a, b) => a - b);
  return times[2];
}
