// The content store under `<cacheDir>/images`: where every verified blob, unpacked file,
// image record, reference and lease lives, and the read side of it (look up a local image
// and validate it by stat, list, remove, leases). Pulling is in pull.ts, pruning in gc.ts.
//
//   blobs/sha256/<hex>             manifests and config documents, as verified bytes
//   files/sha256/<hex>             unpacked guest files keyed by content identity
//   files/sha256/<hex>.verified    size+mtime+inode recorded when the file was verified
//   images/<manifest hex>.json     image record: files, guest config, last use
//   refs/<sha256 of ref>.json      reference -> manifest digest
//   leases/<holder>.json           images in use (never pruned)
//   partial/<hex>/                 chunked downloads in progress (resumable)
//   locks/, tmp/                   per-file locks; temp files of running pulls
//   pulling/<pid>.<random>.json    pulls in progress and the files they make (pull_marks.ts)

import { posix } from "node:path";
import { digestHex, sha256Of } from "../format/digest.ts";
import {
  configDescriptor,
  type DarwinConfig,
  type FileRole,
  type GuestOs,
  imageLayout,
  type LinuxConfig,
} from "../format/layout.ts";
import { parseManifest } from "../format/manifest.ts";
import {
  checkVerified,
  readJson,
  removeVerified,
  sweepTemps,
  type Validity,
  writeFileAtomic,
} from "./store_fs.ts";

export interface StoredFile {
  role: FileRole;
  name: string;
  id: string;
  size: number;
}

export interface ImageRecord {
  manifestDigest: string;
  /** Canonical references last resolved to this manifest. */
  references: string[];
  os: GuestOs;
  form: "agoda" | "vzk";
  configDigest: string;
  files: StoredFile[];
  /** Sum of the layers' compressed sizes. */
  compressedSize: number;
  darwin?: DarwinConfig;
  linux?: LinuxConfig;
  pulledAt: string;
  lastUsedAt: string;
}

export interface RefRecord {
  reference: string;
  manifestDigest: string;
  indexDigest?: string;
  updatedAt: string;
}

/** A pulled, verified image as callers use it: absolute paths of its files. */
export interface LocalImage {
  reference: string;
  manifestDigest: string;
  os: GuestOs;
  form: "agoda" | "vzk";
  /** Role -> absolute path in the store (read-only: clone before writing). */
  files: Partial<Record<FileRole, string>>;
  /** Path of the config document exactly as published (the Agoda form's config.json). */
  configPath: string;
  darwin?: DarwinConfig;
  linux?: LinuxConfig;
  record: ImageRecord;
}

export class StoreLayout {
  readonly root: string;
  constructor(cacheDir: string) {
    this.root = posix.join(cacheDir, "images");
  }
  get tmpDir(): string {
    return posix.join(this.root, "tmp");
  }
  blobPath(digest: string): string {
    return posix.join(this.root, "blobs", "sha256", digestHex(digest));
  }
  filePath(id: string): string {
    return posix.join(this.root, "files", "sha256", digestHex(id));
  }
  imagePath(manifestDigest: string): string {
    return posix.join(this.root, "images", `${digestHex(manifestDigest)}.json`);
  }
  refPath(reference: string): string {
    return posix.join(this.root, "refs", `${digestHex(sha256Of(reference))}.json`);
  }
  leasePath(holder: string): string {
    return posix.join(this.root, "leases", `${digestHex(sha256Of(holder))}.json`);
  }
  lockPath(id: string): string {
    return posix.join(this.root, "locks", `${digestHex(id)}.lock`);
  }
  partialDir(id: string): string {
    return posix.join(this.root, "partial", digestHex(id));
  }
  async init(): Promise<void> {
    for (
      const d of [
        "blobs/sha256",
        "files/sha256",
        "images",
        "refs",
        "leases",
        "partial",
        "locks",
        "tmp",
        "pulling",
      ]
    ) {
      await Deno.mkdir(posix.join(this.root, d), { recursive: true });
    }
    await sweepTemps(this.tmpDir);
  }
}

async function listJson<T>(dir: string): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.endsWith(".json")) continue;
      const v = await readJson<T>(posix.join(dir, e.name));
      if (v) out.push(v);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out;
}

export interface Lease {
  holder: string;
  manifestDigest: string;
  since: string;
}

export class ImageStore {
  constructor(readonly layout: StoreLayout) {}

  static async open(cacheDir: string): Promise<ImageStore> {
    const layout = new StoreLayout(cacheDir);
    await layout.init();
    return new ImageStore(layout);
  }

  readRef(reference: string): Promise<RefRecord | undefined> {
    return readJson<RefRecord>(this.layout.refPath(reference));
  }

  readImage(manifestDigest: string): Promise<ImageRecord | undefined> {
    return readJson<ImageRecord>(this.layout.imagePath(manifestDigest));
  }

  async writeImage(record: ImageRecord): Promise<void> {
    await writeFileAtomic(
      this.layout.imagePath(record.manifestDigest),
      JSON.stringify(record, null, 1),
    );
  }

  async writeRef(ref: RefRecord): Promise<void> {
    await writeFileAtomic(this.layout.refPath(ref.reference), JSON.stringify(ref) + "\n");
  }

  /**
   * Validity of every file of an image: by stat against its verification record, and only
   * when the record's files are exactly those its stored manifest names (a record made by
   * an older keying, or whose manifest or config blob is gone or altered, is "changed").
   */
  async validate(record: ImageRecord): Promise<{ file: StoredFile; validity: Validity }[]> {
    const named = await this.#matchesManifest(record);
    return await Promise.all(record.files.map(async (file) => ({
      file,
      validity: named
        ? await checkVerified(this.layout.filePath(file.id), file.id, file.size)
        : "changed" as const,
    })));
  }

  /** True when the stored manifest and config, verified, lay out exactly `record.files`. */
  async #matchesManifest(record: ImageRecord): Promise<boolean> {
    const read = async (digest: string) => {
      const bytes = await Deno.readFile(this.layout.blobPath(digest)).catch(() => undefined);
      return bytes && sha256Of(bytes) === digest ? bytes : undefined;
    };
    const [manifestBytes, configBytes] = await Promise.all([
      read(record.manifestDigest),
      read(record.configDigest),
    ]);
    if (!manifestBytes || !configBytes) return false;
    try {
      const parsed = parseManifest(manifestBytes);
      if (parsed.kind !== "manifest") return false;
      if (configDescriptor(parsed.manifest).digest !== record.configDigest) return false;
      const want = imageLayout(parsed.manifest, configBytes).files;
      return want.length === record.files.length &&
        want.every((w) =>
          record.files.some((f) => f.role === w.role && f.id === w.id && f.size === w.size)
        );
    } catch {
      return false;
    }
  }

  toLocal(reference: string, record: ImageRecord): LocalImage {
    const files: Partial<Record<FileRole, string>> = {};
    for (const f of record.files) files[f.role] = this.layout.filePath(f.id);
    return {
      reference,
      manifestDigest: record.manifestDigest,
      os: record.os,
      form: record.form,
      files,
      configPath: this.layout.blobPath(record.configDigest),
      darwin: record.darwin,
      linux: record.linux,
      record,
    };
  }

  /**
   * The local image a reference (canonical text, or a manifest digest) points at, when
   * every file is present and unchanged since verification; undefined otherwise.
   */
  async lookup(reference: string): Promise<LocalImage | undefined> {
    const digest = reference.startsWith("sha256:")
      ? reference
      : (await this.readRef(reference))?.manifestDigest;
    if (!digest) return undefined;
    const record = await this.readImage(digest);
    if (!record) return undefined;
    const checks = await this.validate(record);
    if (checks.some((c) => c.validity !== "valid")) return undefined;
    return this.toLocal(reference, record);
  }

  async listImages(): Promise<ImageRecord[]> {
    return await listJson<ImageRecord>(posix.join(this.layout.root, "images"));
  }

  async listRefs(): Promise<RefRecord[]> {
    return await listJson<RefRecord>(posix.join(this.layout.root, "refs"));
  }

  async touch(manifestDigest: string): Promise<void> {
    const record = await this.readImage(manifestDigest);
    if (!record) return;
    record.lastUsedAt = new Date().toISOString();
    await this.writeImage(record);
  }

  /** Marks an image in use by `holder` (e.g. a pod UID); pruning never removes it. */
  async acquire(holder: string, manifestDigest: string): Promise<void> {
    const lease: Lease = { holder, manifestDigest, since: new Date().toISOString() };
    await writeFileAtomic(this.layout.leasePath(holder), JSON.stringify(lease) + "\n");
    await this.touch(manifestDigest);
  }

  async release(holder: string): Promise<void> {
    await Deno.remove(this.layout.leasePath(holder)).catch(() => {});
  }

  async leases(): Promise<Lease[]> {
    return await listJson<Lease>(posix.join(this.layout.root, "leases"));
  }

  /** Removes a reference; the image goes too when no other reference or lease keeps it. */
  async removeReference(reference: string): Promise<{ removedImage: boolean }> {
    const ref = await this.readRef(reference);
    if (!ref) throw new Error(`image ${reference}: not in the local store`);
    await Deno.remove(this.layout.refPath(reference)).catch(() => {});
    const others = (await this.listRefs()).some((r) => r.manifestDigest === ref.manifestDigest);
    const leased = (await this.leases()).some((l) => l.manifestDigest === ref.manifestDigest);
    if (others || leased) return { removedImage: false };
    await this.removeImage(ref.manifestDigest);
    return { removedImage: true };
  }

  /** Deletes an image record and every file no other image shares. Callers check leases. */
  async removeImage(manifestDigest: string): Promise<void> {
    const record = await this.readImage(manifestDigest);
    if (!record) return;
    await Deno.remove(this.layout.imagePath(manifestDigest)).catch(() => {});
    const rest = await this.listImages();
    const shared = new Set(
      rest.flatMap((r) => [...r.files.map((f) => f.id), r.configDigest, r.manifestDigest]),
    );
    for (const f of record.files) {
      if (!shared.has(f.id)) await removeVerified(this.layout.filePath(f.id));
    }
    for (const blob of [record.configDigest, record.manifestDigest]) {
      if (!shared.has(blob)) await Deno.remove(this.layout.blobPath(blob)).catch(() => {});
    }
  }
}
