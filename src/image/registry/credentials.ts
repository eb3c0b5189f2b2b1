// Registry credentials: the `Credentials` interface the registry client asks, and its
// sources: Docker's config.json (`auths`, `credHelpers`, `credsStore`) for the CLI, and the
// Kubernetes secret forms (`kubernetes.io/dockerconfigjson`, legacy `kubernetes.io/dockercfg`)
// the runtime will fill from a pod's imagePullSecrets. Secrets never appear in errors.

import os from "node:os";
import { posix } from "node:path";

/** What a registry may be given: basic credentials, or an OAuth2 identity/refresh token. */
export interface RegistryCredential {
  username?: string;
  password?: string;
  /** docker config `identitytoken`: exchanged for access tokens as an OAuth2 refresh token. */
  identityToken?: string;
  /** docker config `registrytoken`: sent as a bearer token as is. */
  registryToken?: string;
}

/** Source of credentials for a registry host (e.g. "ghcr.io", "127.0.0.1:5000"). */
export interface Credentials {
  forRegistry(registry: string): Promise<RegistryCredential | undefined>;
}

export const anonymous: Credentials = { forRegistry: () => Promise.resolve(undefined) };

/** Reduces a docker config key (`https://index.docker.io/v1/`, `ghcr.io`) to a host. */
export function normaliseRegistryKey(key: string): string {
  let host = key.trim().replace(/^[a-z]+:\/\//i, "");
  host = host.split("/")[0].toLowerCase();
  if (host === "index.docker.io" || host === "registry-1.docker.io") return "docker.io";
  return host;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

function decodeEntry(entry: AuthEntry, where: string): RegistryCredential | undefined {
  const cred: RegistryCredential = {};
  if (typeof entry.auth === "string" && entry.auth !== "") {
    let text: string;
    try {
      text = new TextDecoder().decode(Uint8Array.from(atob(entry.auth), (c) => c.charCodeAt(0)));
    } catch {
      throw new Error(`${where}: "auth" is not base64`);
    }
    const colon = text.indexOf(":");
    if (colon < 0) throw new Error(`${where}: "auth" does not decode to user:password`);
    cred.username = text.slice(0, colon);
    cred.password = text.slice(colon + 1);
  }
  if (typeof entry.username === "string" && entry.username !== "") cred.username = entry.username;
  if (typeof entry.password === "string" && entry.password !== "") cred.password = entry.password;
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
    cred.identityToken = entry.identitytoken;
  }
  if (typeof entry.registrytoken === "string" && entry.registrytoken !== "") {
    cred.registryToken = entry.registrytoken;
  }
  return Object.keys(cred).length > 0 ? cred : undefined;
}

/** Parsed Docker auth entries keyed by normalised registry host. */
export type AuthTable = Map<string, RegistryCredential>;

function tableFrom(auths: Record<string, unknown>, where: string): AuthTable {
  const table: AuthTable = new Map();
  for (const [key, value] of Object.entries(auths)) {
    if (typeof value !== "object" || value === null) continue;
    const cred = decodeEntry(
      value as AuthEntry,
      `${where}: entry for ${normaliseRegistryKey(key)}`,
    );
    if (cred) table.set(normaliseRegistryKey(key), cred);
  }
  return table;
}

/** `.dockerconfigjson` content: `{"auths": {...}}`. */
/** `text` parsed as a JSON object, or an error naming `where`. */
function jsonObject(text: string, where: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${where}: not valid JSON`);
  }
  if (typeof json !== "object" || json === null) throw new Error(`${where}: not a JSON object`);
  return json as Record<string, unknown>;
}

export function parseDockerConfigJson(text: string, where = "docker config"): AuthTable {
  const json = jsonObject(text, where);
  const auths = json.auths;
  if (auths === undefined) return new Map();
  if (typeof auths !== "object" || auths === null) {
    throw new Error(`${where}: "auths" not an object`);
  }
  return tableFrom(auths as Record<string, unknown>, where);
}

/** Legacy `.dockercfg` content: the auths map itself at top level. */
export function parseDockerCfg(text: string, where = "dockercfg"): AuthTable {
  return tableFrom(jsonObject(text, where), where);
}

/** Credentials from fixed tables, first match wins (e.g. one per imagePullSecret, in order). */
export function staticCredentials(...tables: AuthTable[]): Credentials {
  return {
    forRegistry(registry: string) {
      const host = normaliseRegistryKey(registry);
      for (const t of tables) {
        const c = t.get(host);
        if (c) return Promise.resolve(c);
      }
      return Promise.resolve(undefined);
    },
  };
}

/** Runs `docker-credential-<helper> get` (the Docker credential helper protocol). */
async function fromHelper(
  helper: string,
  registry: string,
): Promise<RegistryCredential | undefined> {
  const child = new Deno.Command(`docker-credential-${helper}`, {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(registry));
  await writer.close();
  const out = await child.output();
  if (!out.success) return undefined; // "credentials not found" is a non-zero exit
  const json = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    Username?: string;
    Secret?: string;
  };
  if (!json.Secret) return undefined;
  // The protocol marks identity tokens with the username "<token>".
  if (json.Username === "<token>") return { identityToken: json.Secret };
  return { username: json.Username, password: json.Secret };
}

/**
 * Credentials from a Docker config file (default `$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json`), read on first use. Missing file means anonymous.
 */
export function dockerConfigCredentials(path?: string): Credentials {
  const file = path ??
    posix.join(Deno.env.get("DOCKER_CONFIG") ?? posix.join(os.homedir(), ".docker"), "config.json");
  let loaded: Promise<{ table: AuthTable; helpers: Record<string, string>; store?: string }>;
  const load = async () => {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { table: new Map(), helpers: {} };
      throw new Error(`docker config ${file}: ${(err as Error).message}`);
    }
    const table = parseDockerConfigJson(text, `docker config ${file}`);
    const json = JSON.parse(text) as { credHelpers?: Record<string, string>; credsStore?: string };
    return { table, helpers: json.credHelpers ?? {}, store: json.credsStore };
  };
  return {
    async forRegistry(registry: string) {
      loaded ??= load();
      const { table, helpers, store } = await loaded;
      const host = normaliseRegistryKey(registry);
      const helper = Object.entries(helpers).find(([k]) => normaliseRegistryKey(k) === host)?.[1];
      if (helper) return await fromHelper(helper, registry);
      const direct = table.get(host);
      if (direct) return direct;
      if (store) return await fromHelper(store, registry).catch(() => undefined);
      return undefined;
    },
  };
}
