// Text the `image inspect` and `image ls` commands print: a JSON description of a remote
// image (form, guest, files and their layers), and a table (or JSON) of the local store
// with what is in use.

import { resolveImage } from "../pull/pull.ts";
import { defaultPlatform } from "../pull/pull.ts";
import type { Platform } from "../format/manifest.ts";
import { formatBytes } from "./progress.ts";
import { formatReference, type ImageReference } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { ImageStore } from "../store/store.ts";

export async function inspectImage(
  client: RegistryClient,
  ref: ImageReference,
  platform?: Platform,
): Promise<string> {
  const r = await resolveImage(client, ref, platform ?? defaultPlatform());
  const { layout } = r;
  return JSON.stringify(
    {
      reference: formatReference(ref),
      manifestDigest: r.manifestDigest,
      indexDigest: r.indexDigest,
      form: layout.form,
      os: layout.os,
      darwin: layout.darwin,
      linux: layout.linux,
      files: layout.files.map((f) => ({
        role: f.role,
        name: f.name,
        size: f.size,
        id: f.id,
        layers: f.parts.map((p) => ({
          digest: p.layer.digest,
          mediaType: p.layer.mediaType,
          compressedSize: p.layer.size,
          compression: p.compression,
          offset: p.offset,
          size: p.size,
          digestUncompressed: p.digest,
        })),
      })),
    },
    null,
    2,
  );
}

export async function listImages(store: ImageStore, json: boolean): Promise<string> {
  const images = await store.listImages();
  const refs = await store.listRefs();
  const leases = await store.leases();
  const rows = await Promise.all(images.map(async (img) => {
    const valid = (await store.validate(img)).every((c) => c.validity === "valid");
    return {
      references: refs.filter((r) => r.manifestDigest === img.manifestDigest).map((r) =>
        r.reference
      ),
      manifestDigest: img.manifestDigest,
      os: img.os,
      form: img.form,
      size: img.files.reduce((n, f) => n + f.size, 0),
      lastUsedAt: img.lastUsedAt,
      inUseBy: leases.filter((l) => l.manifestDigest === img.manifestDigest).map((l) => l.holder),
      valid,
    };
  }));
  if (json) return JSON.stringify(rows, null, 2);
  const table = [["REFERENCE", "DIGEST", "OS", "FORM", "SIZE", "LAST USED", "STATE"]];
  for (const r of rows) {
    const state = !r.valid
      ? "changed-or-missing"
      : r.inUseBy.length > 0
      ? `in use (${r.inUseBy.length})`
      : "ok";
    for (const ref of r.references.length > 0 ? r.references : ["<none>"]) {
      table.push([
        ref,
        r.manifestDigest.slice(0, 19),
        r.os,
        r.form,
        formatBytes(r.size),
        r.lastUsedAt.slice(0, 19).replace("T", " "),
        state,
      ]);
    }
  }
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}
