// The VM image formats as data: reads a manifest (and its config document) into a layout
// of guest files, each made of parts (layers) with their compression and digests. Accepts
// the existing Agoda form (config.json as a layer, or the older form with it as the
// manifest's config; any layer order) and our own form (whole, gzip or chunked files, for
// macOS and Linux guests). Pure functions; docs/image-format.md is the specification.

import { assertSha256Digest, sha256Of } from "./digest.ts";
import type { Descriptor, ImageManifest } from "./manifest.ts";
import * as MT from "./media_types.ts";

export type GuestOs = "darwin" | "linux";
export type FileRole = "disk" | "aux" | "kernel" | "initrd";

/** One layer's contribution to a file. */
export interface FilePart {
  layer: Descriptor;
  compression: "gzip" | "none";
  /** Where the part's uncompressed bytes go in the file. */
  offset: number;
  /** Uncompressed size of the part. */
  size: number;
  /**
   * Uncompressed digest of the part. Absent only on a chunk written without one (our
   * writers no longer add it, see docs/image-format.md): the layer digest then pins the
   * chunk's bytes and gzip's own CRC-32 and length check what they inflate to.
   */
  digest?: string;
}

export interface FileEntry {
  role: FileRole;
  /** File name (the layer title), e.g. "disk.img". */
  name: string;
  /** Uncompressed size of the whole file. */
  size: number;
  /**
   * Content identity used as the store key: the digest of the file's part table, which
   * names every layer digest and uncompressed digest the manifest gives (see contentId),
   * so cached content is reused only for exactly the layers it was verified from.
   */
  id: string;
  parts: FilePart[];
}

export interface DarwinConfig {
  /** base64 dataRepresentation of VZMacHardwareModel. */
  hardwareModelData: string;
  /** base64 dataRepresentation of VZMacMachineIdentifier. */
  machineIdData: string;
}

export interface LinuxConfig {
  /** Kernel command line. */
  cmdline: string;
}

export interface VmImageLayout {
  form: "agoda" | "vzk";
  os: GuestOs;
  files: FileEntry[];
  darwin?: DarwinConfig;
  linux?: LinuxConfig;
  /** The config document's bytes exactly as published (written out as config.json). */
  configBytes: Uint8Array;
}

/** Our config document (manifest config, media type VZK_CONFIG). */
export interface VzkConfig {
  os: GuestOs;
  architecture?: string;
  /** Role -> file name (a layer title). */
  files: Partial<Record<FileRole, string>>;
  darwin?: DarwinConfig;
  linux?: LinuxConfig;
}

const DEFAULT_NAMES: Record<string, string> = {
  [MT.AGODA_DISK]: "disk.img",
  [MT.AGODA_AUX]: "aux.img",
  [MT.AGODA_CONFIG]: "config.json",
};

/** Which descriptor holds the config document, or throws when the manifest is not a VM image. */
export function configDescriptor(manifest: ImageManifest): Descriptor {
  if (manifest.config.mediaType === MT.VZK_CONFIG) return manifest.config;
  if (manifest.config.mediaType === MT.AGODA_CONFIG) return manifest.config;
  const layer = manifest.layers.filter((l) => l.mediaType === MT.AGODA_CONFIG);
  if (layer.length === 1) return layer[0];
  if (layer.length > 1) throw new Error("manifest has more than one config.json layer");
  throw new Error(
    `not a VM image: artifactType ${manifest.artifactType ?? "none"}, config ` +
      `${manifest.config.mediaType}, layers ${manifest.layers.map((l) => l.mediaType).join(", ")}`,
  );
}

/** Parses a decimal size annotation. */
function sizeAnnotation(d: Descriptor, key: string, what: string): number {
  const text = d.annotations?.[key];
  if (text === undefined) throw new Error(`${what}: missing annotation ${key}`);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new Error(`${what}: annotation ${key} is not a byte count: "${text}"`);
  }
  return Number(text);
}

function digestAnnotation(d: Descriptor, key: string, what: string): string {
  const text = d.annotations?.[key];
  if (text === undefined) throw new Error(`${what}: missing annotation ${key}`);
  assertSha256Digest(text, `${what}: annotation ${key}`);
  return text;
}

function optionalDigestAnnotation(d: Descriptor, key: string, what: string): string | undefined {
  return d.annotations?.[key] === undefined ? undefined : digestAnnotation(d, key, what);
}

/** A safe file name from a layer title (no directories, no dot-names). */
export function safeTitle(title: string | undefined, fallback: string, what: string): string {
  const name = title ?? fallback;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new Error(`${what}: unusable file name "${name}"`);
  }
  return name;
}

function layerTitle(d: Descriptor): string | undefined {
  return d.annotations?.[MT.ANNOTATION_TITLE];
}

function agodaFile(layer: Descriptor, role: FileRole): FileEntry {
  const what = `layer ${layer.digest} (${layer.mediaType})`;
  const name = safeTitle(layerTitle(layer), DEFAULT_NAMES[layer.mediaType], what);
  const a = layer.annotations ?? {};
  const compressed = MT.AGODA_UNCOMPRESSED_DIGEST in a && MT.AGODA_UNCOMPRESSED_SIZE in a;
  const size = compressed ? sizeAnnotation(layer, MT.AGODA_UNCOMPRESSED_SIZE, what) : layer.size;
  const digest = compressed
    ? digestAnnotation(layer, MT.AGODA_UNCOMPRESSED_DIGEST, what)
    : layer.digest;
  return entry(role, name, size, [{
    layer,
    compression: compressed ? "gzip" : "none",
    offset: 0,
    size,
    digest,
  }]);
}

function parseAgodaConfig(bytes: Uint8Array): DarwinConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("config.json is not JSON");
  }
  const { hardwareModelData, machineIdData } = json;
  if (typeof hardwareModelData !== "string" || hardwareModelData === "") {
    throw new Error("config.json: missing hardwareModelData");
  }
  if (typeof machineIdData !== "string" || machineIdData === "") {
    throw new Error("config.json: missing machineIdData");
  }
  if (json.os !== undefined && json.os !== "darwin") {
    throw new Error(`config.json: os "${json.os}" is not darwin`);
  }
  return { hardwareModelData, machineIdData };
}

function agodaLayout(manifest: ImageManifest, configBytes: Uint8Array): VmImageLayout {
  const darwin = parseAgodaConfig(configBytes);
  const pick = (mediaType: string) => {
    const found = manifest.layers.filter((l) => l.mediaType === mediaType);
    if (found.length > 1) throw new Error(`more than one ${mediaType} layer`);
    return found[0];
  };
  const disk = pick(MT.AGODA_DISK);
  if (!disk) throw new Error(`no disk layer (${MT.AGODA_DISK})`);
  const files = [agodaFile(disk, "disk")];
  const aux = pick(MT.AGODA_AUX);
  if (aux) files.push(agodaFile(aux, "aux"));
  else throw new Error(`no auxiliary storage layer (${MT.AGODA_AUX})`);
  if (files[0].name === files[1].name) {
    throw new Error(`disk and aux share the name ${files[0].name}`);
  }
  return { form: "agoda", os: "darwin", files, darwin, configBytes };
}

/**
 * Identity of a file in the store: sha256 over its part table, one line
 * `offset size uncompressed-digest layer-digest` per part. Keyed on what the manifest
 * names: a file verified from one layer is never taken for another layer that merely
 * claims the same uncompressed digest.
 */
export function contentId(
  parts: { offset: number; size: number; digest?: string; layer: { digest: string } }[],
): string {
  const lines = parts.map((p) => `${p.offset} ${p.size} ${p.digest ?? "-"} ${p.layer.digest}\n`);
  return sha256Of(`vzk-file-v2\n${lines.join("")}`);
}

function entry(role: FileRole, name: string, size: number, parts: FilePart[]): FileEntry {
  return { role, name, size, id: contentId(parts), parts };
}

function vzkFile(role: FileRole, name: string, layers: Descriptor[]): FileEntry {
  const mine = layers.filter((l) => layerTitle(l) === name);
  if (mine.length === 0) throw new Error(`no layer titled ${name} (the ${role} file)`);
  const what = (l: Descriptor) => `layer ${l.digest} (${name})`;
  if (mine.length === 1 && mine[0].mediaType !== MT.VZK_CHUNK_GZIP) {
    const l = mine[0];
    if (l.mediaType === MT.VZK_FILE) {
      return entry(role, name, l.size, [{
        layer: l,
        compression: "none",
        offset: 0,
        size: l.size,
        digest: l.digest,
      }]);
    }
    if (l.mediaType !== MT.VZK_FILE_GZIP) {
      throw new Error(`${what(l)}: unknown media type ${l.mediaType}`);
    }
    const size = sizeAnnotation(l, MT.VZK_UNCOMPRESSED_SIZE, what(l));
    const digest = digestAnnotation(l, MT.VZK_UNCOMPRESSED_DIGEST, what(l));
    return entry(role, name, size, [{ layer: l, compression: "gzip", offset: 0, size, digest }]);
  }
  const parts: FilePart[] = mine.map((l) => {
    if (l.mediaType !== MT.VZK_CHUNK_GZIP) {
      throw new Error(`${what(l)}: ${l.mediaType} mixed with chunks of the same file`);
    }
    return {
      layer: l,
      compression: "gzip" as const,
      offset: sizeAnnotation(l, MT.VZK_CHUNK_OFFSET, what(l)),
      size: sizeAnnotation(l, MT.VZK_UNCOMPRESSED_SIZE, what(l)),
      digest: optionalDigestAnnotation(l, MT.VZK_UNCOMPRESSED_DIGEST, what(l)),
    };
  }).sort((a, b) => a.offset - b.offset);
  const size = sizeAnnotation(mine[0], MT.VZK_FILE_SIZE, what(mine[0]));
  let at = 0;
  for (const p of parts) {
    if (sizeAnnotation(p.layer, MT.VZK_FILE_SIZE, what(p.layer)) !== size) {
      throw new Error(`${what(p.layer)}: chunks disagree on the file size`);
    }
    if (p.offset !== at) throw new Error(`${name}: chunks leave a gap or overlap at byte ${at}`);
    at += p.size;
  }
  if (at !== size) throw new Error(`${name}: chunks cover ${at} of ${size} bytes`);
  return entry(role, name, size, parts);
}

function parseVzkConfig(bytes: Uint8Array): VzkConfig {
  let json: VzkConfig;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("config is not JSON");
  }
  if (json.os !== "darwin" && json.os !== "linux") {
    throw new Error(`config: unknown os "${json.os}"`);
  }
  if (typeof json.files !== "object" || json.files === null) throw new Error("config: no files");
  if (json.os === "darwin") {
    if (!json.darwin?.hardwareModelData || !json.darwin.machineIdData) {
      throw new Error("config: darwin guest without hardwareModelData and machineIdData");
    }
    if (!json.files.disk || !json.files.aux) {
      throw new Error("config: darwin guest needs disk and aux");
    }
  } else {
    if (typeof json.linux?.cmdline !== "string") {
      throw new Error("config: linux guest without cmdline");
    }
    if (!json.files.kernel || !json.files.disk) {
      throw new Error("config: linux guest needs kernel and disk");
    }
  }
  return json;
}

function vzkLayout(manifest: ImageManifest, configBytes: Uint8Array): VmImageLayout {
  const config = parseVzkConfig(configBytes);
  const files: FileEntry[] = [];
  const names = new Set<string>();
  for (const role of ["disk", "aux", "kernel", "initrd"] as FileRole[]) {
    const name = config.files[role];
    if (!name) continue;
    safeTitle(name, name, `config: ${role} file`);
    if (names.has(name)) throw new Error(`config: ${name} used for two roles`);
    names.add(name);
    files.push(vzkFile(role, name, manifest.layers));
  }
  return {
    form: "vzk",
    os: config.os,
    files,
    darwin: config.darwin,
    linux: config.linux,
    configBytes,
  };
}

/** The layout of a VM image from its manifest and the bytes of its config document. */
export function imageLayout(manifest: ImageManifest, configBytes: Uint8Array): VmImageLayout {
  if (manifest.config.mediaType === MT.VZK_CONFIG) return vzkLayout(manifest, configBytes);
  return agodaLayout(manifest, configBytes);
}

/** The file a role maps to, if the image has it. */
export function fileFor(layout: VmImageLayout, role: FileRole): FileEntry | undefined {
  return layout.files.find((f) => f.role === role);
}
