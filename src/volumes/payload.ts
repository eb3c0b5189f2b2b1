// The files of configMap, secret, downwardAPI and projected volumes, as the kubelet lays them
// out: every key (or the listed items, at their paths) of a config map or secret, downward API
// fields, service-account tokens; modes from item.mode, else the volume's defaultMode (0644).
// A missing object or key fails the mount unless the reference is optional; messages name the
// volume and the object, never a secret's value.

import type * as k8s from "@kubernetes/client-node";
import type { ObjectReader } from "../kube/objects.ts";
import { type PayloadFile } from "./atomic_writer.ts";
import { type DownwardContext, fieldValue, resourceValue } from "./downward.ts";
import type { PodTokens } from "./tokens.ts";

/** A volume could not be set up: the pod waits (FailedMount) and it is tried again. */
export class VolumeError extends Error {
  constructor(readonly volume: string, message: string) {
    super(`MountVolume.SetUp failed for volume "${volume}": ${message}`);
    this.name = "VolumeError";
  }
}

export interface PayloadSources {
  reader?: ObjectReader;
  tokens?: PodTokens;
  downward: DownwardContext;
}

const DEFAULT_MODE = 0o644;
const enc = new TextEncoder();
const fromBase64 = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

type KeyData = Map<string, Uint8Array>;

async function readKeys(
  src: PayloadSources,
  ns: string,
  kind: "configMap" | "secret",
  name: string,
  volume: string,
): Promise<KeyData | undefined> {
  if (!src.reader) throw new VolumeError(volume, `this agent cannot read ${kind}s from the API`);
  const keys: KeyData = new Map();
  if (kind === "secret") {
    const s = await src.reader.secret(ns, name);
    if (!s) return undefined;
    for (const [k, v] of Object.entries(s.data ?? {})) keys.set(k, fromBase64(v));
    for (const [k, v] of Object.entries(s.stringData ?? {})) keys.set(k, enc.encode(v));
  } else {
    const cm = await src.reader.configMap(ns, name);
    if (!cm) return undefined;
    for (const [k, v] of Object.entries(cm.data ?? {})) keys.set(k, enc.encode(v));
    for (const [k, v] of Object.entries(cm.binaryData ?? {})) keys.set(k, fromBase64(v));
  }
  return keys;
}

/** Keys of a config map or secret as files: all of them, or the listed items. */
function keyFiles(
  keys: KeyData,
  items: k8s.V1KeyToPath[] | undefined,
  mode: number,
  what: string,
  optional: boolean,
  volume: string,
): PayloadFile[] {
  if (!items?.length) {
    return [...keys].map(([k, data]) => ({ path: k, data, mode }));
  }
  const files: PayloadFile[] = [];
  for (const item of items) {
    const data = keys.get(item.key);
    if (!data) {
      if (optional) continue;
      throw new VolumeError(volume, `${what} has no key "${item.key}"`);
    }
    files.push({ path: item.path, data, mode: item.mode ?? mode });
  }
  return files;
}

async function objectFiles(
  src: PayloadSources,
  ns: string,
  kind: "configMap" | "secret",
  ref: { name?: string; optional?: boolean; items?: k8s.V1KeyToPath[] },
  mode: number,
  volume: string,
): Promise<PayloadFile[]> {
  const name = kind === "secret"
    ? (ref as { secretName?: string }).secretName ?? ref.name
    : ref.name;
  const what = `${kind} "${ns}/${name}"`;
  const keys = await readKeys(src, ns, kind, name ?? "", volume);
  if (!keys) {
    if (ref.optional) return [];
    throw new VolumeError(volume, `${what} not found`);
  }
  return keyFiles(keys, ref.items, mode, what, !!ref.optional, volume);
}

function downwardFiles(
  src: PayloadSources,
  items: k8s.V1DownwardAPIVolumeFile[],
  mode: number,
  volume: string,
): PayloadFile[] {
  return items.map((item) => {
    let value: string | undefined;
    if (item.fieldRef) value = fieldValue(src.downward, item.fieldRef.fieldPath);
    else if (item.resourceFieldRef) value = resourceValue(src.downward, item.resourceFieldRef);
    if (value === undefined) {
      throw new VolumeError(volume, `downward API item "${item.path}": unsupported field`);
    }
    return { path: item.path, data: enc.encode(value), mode: item.mode ?? mode };
  });
}

/** The files of a configMap, secret, downwardAPI or projected volume. */
export async function volumeFiles(v: k8s.V1Volume, src: PayloadSources): Promise<PayloadFile[]> {
  const ns = src.downward.pod.metadata?.namespace ?? "default";
  if (v.configMap) {
    return await objectFiles(
      src,
      ns,
      "configMap",
      v.configMap,
      v.configMap.defaultMode ?? DEFAULT_MODE,
      v.name,
    );
  }
  if (v.secret) {
    return await objectFiles(
      src,
      ns,
      "secret",
      v.secret,
      v.secret.defaultMode ?? DEFAULT_MODE,
      v.name,
    );
  }
  if (v.downwardAPI) {
    return downwardFiles(
      src,
      v.downwardAPI.items ?? [],
      v.downwardAPI.defaultMode ?? DEFAULT_MODE,
      v.name,
    );
  }
  if (!v.projected) return [];
  const mode = v.projected.defaultMode ?? DEFAULT_MODE;
  const files: PayloadFile[] = [];
  for (const s of v.projected.sources ?? []) {
    if (s.configMap) {
      files.push(...await objectFiles(src, ns, "configMap", s.configMap, mode, v.name));
    }
    if (s.secret) files.push(...await objectFiles(src, ns, "secret", s.secret, mode, v.name));
    if (s.downwardAPI) files.push(...downwardFiles(src, s.downwardAPI.items ?? [], mode, v.name));
    if (s.serviceAccountToken) {
      if (!src.tokens) {
        throw new VolumeError(v.name, "this agent cannot request service account tokens");
      }
      const t = s.serviceAccountToken;
      let token: string;
      try {
        token = await src.tokens.token(t.audience, t.expirationSeconds ?? 3600);
      } catch (err) {
        throw new VolumeError(v.name, err instanceof Error ? err.message : String(err));
      }
      files.push({ path: t.path, data: enc.encode(token), mode });
    }
  }
  return files;
}
