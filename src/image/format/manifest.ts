// OCI manifests and image indexes as data: types, strict parsing of what a registry returns
// (OCI 1.0 and 1.1 manifests, Docker schema 2 as a courtesy), and choosing an index entry
// by platform. No I/O here.

import { assertSha256Digest } from "./digest.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from "./media_types.ts";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: Platform;
  urls?: string[];
  /** Base64 of the content, for tiny blobs (OCI 1.1). */
  data?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: "manifest"; manifest: ImageManifest }
  | { kind: "index"; index: ImageIndex };

/** What we send in Accept when asking for a manifest. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new Error(`${what}: annotations must be an object`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== "string") throw new Error(`${what}: annotation ${k} must be a string`);
  }
  return v as Record<string, string>;
}

/** Validates one descriptor object; `what` names it in errors. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw new Error(`${what}: not an object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== "string" || mediaType === "") {
    throw new Error(`${what}: missing mediaType`);
  }
  if (typeof digest !== "string") throw new Error(`${what}: missing digest`);
  assertSha256Digest(digest, what);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new Error(`${what}: size must be a non-negative integer`);
  }
  const d: Descriptor = { mediaType, digest, size };
  const annotations = stringMap(v.annotations, what);
  if (annotations) d.annotations = annotations;
  if (typeof v.artifactType === "string") d.artifactType = v.artifactType;
  if (isObject(v.platform)) {
    const p = v.platform;
    if (typeof p.os === "string" && typeof p.architecture === "string") {
      d.platform = { os: p.os, architecture: p.architecture };
      if (typeof p.variant === "string") d.platform.variant = p.variant;
    }
  }
  if (typeof v.data === "string") d.data = v.data;
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === "string");
  return d;
}

/**
 * Parses manifest bytes. The media type comes from the JSON's own `mediaType`, else from the
 * response's Content-Type, else from the shape (`manifests` means an index).
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new Error(`manifest is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) throw new Error("manifest is not a JSON object");
  if (json.schemaVersion !== 2) {
    throw new Error(`unsupported manifest schemaVersion ${JSON.stringify(json.schemaVersion)}`);
  }
  const headerType = contentType?.split(";")[0].trim();
  const mediaType = typeof json.mediaType === "string"
    ? json.mediaType
    : headerType && headerType !== "application/json"
    ? headerType
    : Array.isArray(json.manifests)
    ? OCI_INDEX
    : OCI_MANIFEST;
  const annotations = stringMap(json.annotations, "manifest");
  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST) {
    if (!Array.isArray(json.manifests)) throw new Error("image index without manifests");
    const manifests = json.manifests.map((m, i) => parseDescriptor(m, `index entry ${i}`));
    return { kind: "index", index: { schemaVersion: 2, mediaType, manifests, annotations } };
  }
  if (mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST) {
    throw new Error(`unsupported manifest media type ${mediaType}`);
  }
  const config = parseDescriptor(json.config, "manifest config");
  if (!Array.isArray(json.layers)) throw new Error("manifest without layers");
  const layers = json.layers.map((l, i) => parseDescriptor(l, `layer ${i}`));
  const manifest: ImageManifest = { schemaVersion: 2, mediaType, config, layers };
  if (typeof json.artifactType === "string") manifest.artifactType = json.artifactType;
  if (json.subject !== undefined) manifest.subject = parseDescriptor(json.subject, "subject");
  if (annotations) manifest.annotations = annotations;
  return { kind: "manifest", manifest };
}

function platformText(p?: Platform): string {
  if (!p) return "unknown";
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/**
 * Picks the index entry for `want`: exact os+architecture, preferring a matching variant,
 * else an entry without a variant. Throws listing what the index offers.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor {
  const candidates = index.manifests.filter((m) =>
    m.platform?.os === want.os && m.platform.architecture === want.architecture
  );
  const exact = candidates.find((m) => want.variant && m.platform?.variant === want.variant);
  const plain = candidates.find((m) => !m.platform?.variant);
  const chosen = exact ?? plain ?? candidates[0];
  if (!chosen) {
    const offered = index.manifests.map((m) => platformText(m.platform)).join(", ") || "nothing";
    throw new Error(`no manifest for platform ${platformText(want)} (index offers ${offered})`);
  }
  return chosen;
}

/** The platform of this host in OCI terms (Deno's arch names differ from OCI's). */
export function hostPlatform(): Platform {
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  return { os: Deno.build.os === "darwin" ? "darwin" : "linux", architecture: arch };
}

/** Serialises a manifest the way we push it (stable key order, no whitespace). */
export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
