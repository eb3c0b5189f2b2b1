// An OCI/Docker image registry for tests: Debian's `docker-registry` (distribution v2.8) on a
// free loopback port, plain HTTP and anonymous, plus an htpasswd-protected twin serving the
// same storage directory on its own port (so an image pushed to one can be pulled from both).
// startTlsRegistry starts one more kind: anonymous, over TLS with a certificate from a
// private CA made for it (for --registry-ca).
//
// distribution accepts only bcrypt htpasswd entries, which neither openssl nor the Debian base
// system can produce; the hash is made with the npm package bcryptjs (pure JavaScript, fetched
// by Deno like every other npm dependency) rather than requiring apache2-utils' htpasswd.
// deno-lint-ignore no-import-prefix -- harness-only dependency, kept out of deno.json's imports
import bcrypt from "npm:bcryptjs@3.0.2";
import { waitFor } from "./api_client.ts";
import { freePort, looksLikePortClash } from "./ports.ts";
import { addShutdownHook, type Child, failOnExit, spawnLogged, tailLog } from "./process.ts";
import type { CertPaths } from "./pki.ts";

export interface Registry {
  /** 127.0.0.1:port, plain HTTP, anonymous. */
  host: string;
  /** 127.0.0.1:port, htpasswd basic auth, same storage as `host`. */
  authHost: string;
  username: string;
  password: string;
  stop(): Promise<void>;
  /** Both registry processes (for tests that check they are gone). */
  pids: number[];
}

export interface RegistryOptions {
  /** Storage, configs and logs go here (created if needed; left in place by stop()). */
  dir: string;
}

const START_ATTEMPTS = 3;

function findRegistryBinary(): string {
  for (const path of ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  throw new Error("docker-registry not found; install the Debian package docker-registry");
}

function configFor(dir: string, port: number, htpasswd?: string, tls?: CertPaths): string {
  const config = {
    version: "0.1",
    log: { level: "info", accesslog: { disabled: false }, fields: { service: "registry" } },
    storage: {
      filesystem: { rootdirectory: `${dir}/storage` },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: crypto.randomUUID(),
      headers: { "X-Content-Type-Options": ["nosniff"] },
      ...(tls ? { tls: { certificate: tls.cert, key: tls.key } } : {}),
    },
    health: { storagedriver: { enabled: false } },
    ...(htpasswd ? { auth: { htpasswd: { realm: "vzk-test-registry", path: htpasswd } } } : {}),
  };
  return JSON.stringify(config, null, 2) + "\n";
}

interface StartOptions {
  htpasswd?: string;
  /** Serve TLS with this certificate; readiness is checked trusting `caCert`. */
  tls?: CertPaths & { caCert: string };
}

async function startOne(
  binary: string,
  dir: string,
  name: string,
  expectStatus: number,
  children: Child[],
  opts: StartOptions = {},
): Promise<string> {
  const logPath = `${dir}/${name}.log`;
  for (let attempt = 1;; attempt++) {
    const port = freePort();
    const configPath = `${dir}/${name}.config.yml`;
    await Deno.writeTextFile(configPath, configFor(dir, port, opts.htpasswd, opts.tls));
    // clearEnv: REGISTRY_* variables in the caller's environment would override the config.
    const child = await spawnLogged({
      name,
      command: binary,
      args: ["serve", configPath],
      logPath,
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir },
    });
    children.push(child);
    const host = `127.0.0.1:${port}`;
    const client = opts.tls
      ? Deno.createHttpClient({ caCerts: [await Deno.readTextFile(opts.tls.caCert)] })
      : undefined;
    const answers = async () => {
      const response = await fetch(`${opts.tls ? "https" : "http"}://${host}/v2/`, {
        signal: AbortSignal.timeout(2000),
        client,
      } as RequestInit);
      await response.body?.cancel();
      return response.status === expectStatus;
    };
    const died = failOnExit([child]);
    try {
      await Promise.race([died.promise, waitFor(`${name} at ${host}`, answers, 20_000, 50)]);
      return host;
    } catch (error) {
      await child.stop(1000);
      if (attempt >= START_ATTEMPTS || !looksLikePortClash(await tailLog(logPath))) throw error;
    } finally {
      died.cancel();
      client?.close();
    }
  }
}

/** Starts the anonymous registry and its htpasswd twin; resolves once both answer GET /v2/. */
export async function startRegistry(opts: RegistryOptions): Promise<Registry> {
  const binary = findRegistryBinary();
  await Deno.mkdir(`${opts.dir}/storage`, { recursive: true });
  const username = "vzk";
  const password = Array.from(
    crypto.getRandomValues(new Uint8Array(12)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const htpasswd = `${opts.dir}/htpasswd`;
  await Deno.writeTextFile(htpasswd, `${username}:${bcrypt.hashSync(password, 10)}\n`, {
    mode: 0o600,
  });

  const { children, stop } = registryProcesses();
  try {
    const [host, authHost] = await Promise.all([
      startOne(binary, opts.dir, "registry", 200, children),
      startOne(binary, opts.dir, "registry-auth", 401, children, { htpasswd }),
    ]);
    return {
      host,
      authHost,
      username,
      password,
      stop,
      pids: children.map((child) => child.pid),
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The registry processes of one start: stopped together, once, and on test-run shutdown. */
function registryProcesses(): { children: Child[]; stop(): Promise<void> } {
  const children: Child[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      removeHook();
      await Promise.all(children.map((child) => child.stop(5000)));
    })();
    return stopped;
  };
  const removeHook = addShutdownHook(stop);
  return { children, stop };
}

export interface TlsRegistry {
  /** 127.0.0.1:port, TLS, anonymous. */
  host: string;
  /** PEM of the private CA that signed the registry's certificate (for 127.0.0.1, localhost). */
  caCert: string;
  stop(): Promise<void>;
  pids: number[];
}

/** Starts an anonymous TLS registry whose certificate only `caCert` vouches for. */
export async function startTlsRegistry(opts: RegistryOptions): Promise<TlsRegistry> {
  const binary = findRegistryBinary();
  await Deno.mkdir(`${opts.dir}/storage`, { recursive: true });
  // Loaded here: the other registries' users need no X.509 library.
  const { createPrivateCa } = await import("./pki.ts");
  const tls = await createPrivateCa(`${opts.dir}/pki`, "registry", {
    commonName: "vzk-test-registry",
    server: true,
    dnsNames: ["localhost"],
    ips: ["127.0.0.1"],
  });
  const { children, stop } = registryProcesses();
  try {
    const host = await startOne(binary, opts.dir, "registry-tls", 200, children, { tls });
    return { host, caCert: tls.caCert, stop, pids: children.map((child) => child.pid) };
  } catch (error) {
    await stop();
    throw error;
  }
}
