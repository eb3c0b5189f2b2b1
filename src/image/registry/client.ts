// Registry client for the OCI distribution API: one authenticated, retried request
// primitive, and on top of it manifests (resolved through image indexes by platform), small
// verified blobs, existence checks and manifest pushes. Large blobs are streamed by
// blob_stream.ts and uploaded by upload.ts, both through `request`.
// Hand-written on fetch: the npm OCI clients buffer blobs in memory or lack range resume,
// which 20-200 GB VM images need.

import { Authenticator, repositoryScope } from "./auth.ts";
import { anonymous, type Credentials } from "./credentials.ts";
import { DigestMismatchError, sha256Of } from "../format/digest.ts";
import { NotFoundError, RegistryError, registryErrorDetail } from "./errors.ts";
import {
  type Descriptor,
  type ImageManifest,
  MANIFEST_ACCEPT,
  parseManifest,
  type Platform,
  selectPlatform,
} from "../format/manifest.ts";
import { apiHost, formatReference, type ImageReference, manifestSelector } from "./reference.ts";
import { Transport, type TransportOptions } from "./transport.ts";

export interface RegistryClientOptions extends TransportOptions {
  credentials?: Credentials;
}

export interface RequestSpec {
  method?: string;
  /** Path after `/v2/<repository>/`, or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  /** Made anew for every attempt, so retries can resend it. */
  body?: () => BodyInit | undefined;
  push?: boolean;
  /** Statuses returned to the caller instead of thrown (besides 2xx). */
  allow?: number[];
  signal?: AbortSignal;
  /** Off for requests whose body cannot be replayed. */
  retry?: boolean;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
  manifest: ImageManifest;
  /** Digest of the index it was chosen from, when the reference named an index. */
  indexDigest?: string;
}

/** Manifests above this are refused (the distribution spec suggests 4 MiB). */
const MAX_MANIFEST_BYTES = 4 << 20;

export class RegistryClient {
  readonly transport: Transport;
  readonly auth: Authenticator;

  constructor(readonly options: RegistryClientOptions = {}) {
    const opts = options;
    this.transport = new Transport(opts);
    this.auth = new Authenticator(this.transport, opts.credentials ?? anonymous);
  }

  /** URL of `/v2/<repository>/<path>` on the reference's registry. */
  async url(ref: ImageReference, path: string): Promise<string> {
    return `${await this.transport.baseUrl(apiHost(ref.registry))}/v2/${ref.repository}/${path}`;
  }

  /** One request with authentication and retries; throws RegistryError subclasses. */
  request(ref: ImageReference, spec: RequestSpec): Promise<Response> {
    const scope = repositoryScope(ref.repository, spec.push ?? false);
    const absolute = /^https?:\/\//.test(spec.path);
    const what = `${spec.method ?? "GET"} ${
      absolute ? new URL(spec.path).pathname : `/v2/${ref.repository}/${spec.path.split("?")[0]}`
    }`;
    const once = async (): Promise<Response> => {
      const url = absolute ? spec.path : await this.url(ref, spec.path);
      for (let round = 0;; round++) {
        const headers = new Headers(spec.headers);
        const authorization = await this.auth.authorization(ref.registry, scope);
        if (authorization) headers.set("Authorization", authorization);
        const response = await this.transport.send(url, {
          method: spec.method ?? "GET",
          headers,
          body: spec.body?.(),
          signal: spec.signal,
        });
        if (response.status === 401 && round < 2) {
          await this.auth.onUnauthorized(ref.registry, scope, response, authorization ?? undefined);
          continue;
        }
        if (response.ok || spec.allow?.includes(response.status)) return response;
        const detail = await registryErrorDetail(response);
        const msg = `registry ${ref.registry}: ${what}: ${detail.message}`;
        if (response.status === 404) throw new NotFoundError(msg, ref.registry, detail.code);
        throw new RegistryError(msg, ref.registry, response.status, detail.code);
      }
    };
    if (spec.retry === false) return once();
    return this.transport.withRetries(what, once);
  }

  /** A GET whose whole (bounded) body is read inside the retry loop. */
  #getBytes(
    ref: ImageReference,
    spec: RequestSpec,
    limit: number,
    what: string,
  ): Promise<{ response: Response; bytes: Uint8Array }> {
    return this.transport.withRetries(what, async () => {
      const response = await this.request(ref, { ...spec, retry: false });
      return { response, bytes: await readLimited(response, limit, what) };
    });
  }

  /** Fetches one manifest or index by tag or digest, verifying the digest. */
  async fetchManifestBytes(
    ref: ImageReference,
    selector = manifestSelector(ref),
  ): Promise<{ bytes: Uint8Array; digest: string; contentType?: string }> {
    const { response, bytes } = await this.#getBytes(
      ref,
      {
        path: `manifests/${selector}`,
        headers: { Accept: MANIFEST_ACCEPT.join(", ") },
      },
      MAX_MANIFEST_BYTES,
      `manifest ${selector}`,
    );
    const digest = sha256Of(bytes);
    const what = `image ${formatReference(ref)}: manifest`;
    if (selector.startsWith("sha256:") && digest !== selector) {
      throw new DigestMismatchError(what, selector, digest);
    }
    const claimed = response.headers.get("docker-content-digest");
    if (claimed?.startsWith("sha256:") && claimed !== digest) {
      throw new DigestMismatchError(`${what} (Docker-Content-Digest)`, claimed, digest);
    }
    return { bytes, digest, contentType: response.headers.get("content-type") ?? undefined };
  }

  /**
   * Resolves a reference to an image manifest: an index is resolved by `platform`; a
   * manifest is returned as is (VM artifacts rarely come in indexes).
   */
  async resolveManifest(ref: ImageReference, platform: Platform): Promise<FetchedManifest> {
    const first = await this.fetchManifestBytes(ref);
    const parsed = parseManifest(first.bytes, first.contentType);
    if (parsed.kind === "manifest") {
      return {
        digest: first.digest,
        mediaType: parsed.manifest.mediaType,
        bytes: first.bytes,
        manifest: parsed.manifest,
      };
    }
    const entry = selectPlatform(parsed.index, platform);
    const second = await this.fetchManifestBytes(ref, entry.digest);
    const inner = parseManifest(second.bytes, entry.mediaType);
    if (inner.kind !== "manifest") {
      throw new Error(
        `image ${formatReference(ref)}: index entry ${entry.digest} is another index`,
      );
    }
    return {
      digest: second.digest,
      mediaType: inner.manifest.mediaType,
      bytes: second.bytes,
      manifest: inner.manifest,
      indexDigest: first.digest,
    };
  }

  /** A small blob (config, manifest-sized) read whole and verified. */
  async fetchSmallBlob(
    ref: ImageReference,
    desc: Descriptor,
    limit = 16 << 20,
  ): Promise<Uint8Array> {
    const what = `image ${formatReference(ref)}: blob ${desc.digest}`;
    if (desc.size > limit) {
      throw new Error(`${what}: ${desc.size} bytes is too large to read whole`);
    }
    if (desc.data !== undefined) {
      const bytes = Uint8Array.from(atob(desc.data), (c) => c.charCodeAt(0));
      if (sha256Of(bytes) === desc.digest && bytes.length === desc.size) return bytes;
    }
    const { bytes } = await this.#getBytes(ref, { path: `blobs/${desc.digest}` }, limit, what);
    if (bytes.length !== desc.size) {
      throw new DigestMismatchError(what, `${desc.size} bytes`, `${bytes.length} bytes`);
    }
    const digest = sha256Of(bytes);
    if (digest !== desc.digest) throw new DigestMismatchError(what, desc.digest, digest);
    return bytes;
  }

  /** True when the repository already has the blob (HEAD). */
  async hasBlob(ref: ImageReference, digest: string, push = false): Promise<boolean> {
    const response = await this.request(ref, {
      method: "HEAD",
      path: `blobs/${digest}`,
      allow: [404],
      push,
    });
    await response.body?.cancel();
    return response.status !== 404;
  }

  /** Pushes manifest bytes under a tag (or its digest); returns the digest. */
  async putManifest(
    ref: ImageReference,
    bytes: Uint8Array,
    mediaType: string,
    tagOrDigest?: string,
  ): Promise<string> {
    const digest = sha256Of(bytes);
    const target = tagOrDigest ?? ref.tag ?? digest;
    const response = await this.request(ref, {
      method: "PUT",
      path: `manifests/${target}`,
      headers: { "Content-Type": mediaType },
      body: () => bytes as Uint8Array<ArrayBuffer>,
      push: true,
    });
    await response.body?.cancel();
    const claimed = response.headers.get("docker-content-digest");
    if (claimed && claimed !== digest) {
      throw new DigestMismatchError(`registry ${ref.registry}: pushed manifest`, digest, claimed);
    }
    return digest;
  }

  close(): void {
    this.transport.close();
  }
}

/** Reads a response body up to `limit` bytes; more is an error (never buffered unbounded). */
export async function readLimited(
  response: Response,
  limit: number,
  what: string,
): Promise<Uint8Array> {
  const length = Number(response.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(length) && length > limit) {
    await response.body?.cancel();
    throw new Error(`${what}: ${length} bytes exceeds the ${limit}-byte limit`);
  }
  if (!response.body) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > limit) throw new Error(`${what}: more than ${limit} bytes`);
    parts.push(chunk);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
