// Image references: parsing `[registry/]repository[:tag][@digest]` the way Docker and OCI
// tools do (docker.io defaults, `library/` for single-name Docker Hub images), formatting
// them back, and telling which host the registry API lives on.
// Hand-written: the grammar is ~30 lines of regular expressions and the npm parsers either
// pull in a whole container toolkit or do not normalise Docker Hub names.

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Registry as written by users after normalisation, e.g. "docker.io", "127.0.0.1:5000". */
  registry: string;
  /** Repository path, e.g. "library/debian", "agoda/macos-sonoma". */
  repository: string;
  tag?: string;
  /** "sha256:<hex>" when the reference pins a digest. */
  digest?: string;
}

const DOCKER_HUB = "docker.io";
const DOCKER_HUB_API = "registry-1.docker.io";
const DEFAULT_TAG = "latest";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN =
  /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?$/;

function looksLikeRegistry(first: string): boolean {
  return first.includes(".") || first.includes(":") || first === "localhost" ||
    first.startsWith("[");
}

/** Parses an image reference; throws an Error naming the reference and what is wrong. */
export function parseReference(text: string): ImageReference {
  const fail = (why: string): never => {
    throw new Error(`invalid image reference "${text}": ${why}`);
  };
  if (text.length === 0) fail("empty");
  if (text.length > 4096) fail("too long");
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`bad digest "${digest}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`bad tag "${tag}"`);
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeRegistry(parts[0])) {
    registry = parts.shift()!;
    if (!DOMAIN.test(registry)) fail(`bad registry "${registry}"`);
  }
  if (registry === "index.docker.io" || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => p.length === 0)) fail("empty repository");
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      fail(`repository component "${part}" must be lowercase letters, digits and separators`);
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (repository.length > 255) fail("repository longer than 255 characters");
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository, tag, digest };
}

/** The canonical text of a reference: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let text = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) text += `:${ref.tag}`;
  if (ref.digest !== undefined) text += `@${ref.digest}`;
  return text;
}

/** The tag or digest to ask the registry for: the digest wins when both are given. */
export function manifestSelector(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** host[:port] where the registry's HTTP API answers (Docker Hub's API is not docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** The same reference pinned to a manifest digest (tag kept for display). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  return { ...ref, digest };
}
