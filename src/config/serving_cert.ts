// The kubelet API's serving certificate: the one given through APISERVER_CERT_LOCATION and
// APISERVER_KEY_LOCATION, or else a self-signed X.509 v3 certificate (ECDSA P-256) generated
// once into <cacheDir>/pki and reused while it stays valid for the node's names.

// @peculiar/x509 needs the Reflect metadata polyfill loaded first.
import type * as X509 from "@peculiar/x509";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { dirname } from "node:path";
import type { Logger } from "../telemetry/log.ts";
import { generatedServingCertPaths } from "./paths.ts";
import type { Config } from "./types.ts";

/**
 * @peculiar/x509, loaded only when a certificate is generated: it (with reflect-metadata)
 * costs the long-running agent several MB of memory it does not otherwise need.
 */
async function loadX509(): Promise<typeof X509> {
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(crypto);
  return x509;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const VALIDITY_MS = 365 * DAY_MS;
/** A generated certificate closer than this to its expiry is replaced. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
/** notBefore is set a little in the past, for callers whose clocks run behind. */
const BACKDATE_MS = 5 * 60 * 1000;
const GIVEN_BY = "APISERVER_CERT_LOCATION/APISERVER_KEY_LOCATION";

export interface ServingCert {
  certPath: string;
  keyPath: string;
  /** True when the agent made this certificate (now or on an earlier start), false if given. */
  generated: boolean;
  /** True when a certificate generated on an earlier start was kept. */
  reused: boolean;
}

export interface ServingCertOptions {
  /** The current time (tests). */
  now?: Date;
  /** The host's non-internal IPv4 addresses (tests); default from node:os networkInterfaces. */
  hostAddresses?: string[];
}

/** Subject alternative names of a generated certificate. */
export interface ServingNames {
  dns: string[];
  ips: string[];
}

/**
 * The certificate and key the kubelet API serves with: the configured pair, else the
 * generated one under `<cacheDir>/pki`, made (or remade) when missing, unreadable, expiring
 * within 30 days, not matching its key, or not naming the node name or VKUBELET_POD_IP.
 */
export async function ensureServingCert(
  config: Config,
  log: Logger,
  options: ServingCertOptions = {},
): Promise<ServingCert> {
  if (config.servingCertPath && config.servingKeyPath) {
    return {
      certPath: config.servingCertPath,
      keyPath: config.servingKeyPath,
      generated: false,
      reused: false,
    };
  }
  const { certPath, keyPath } = generatedServingCertPaths(config.cacheDir);
  const now = options.now ?? new Date();
  const problem = await reuseProblem(certPath, keyPath, config, now);
  if (problem === undefined) {
    log.info(
      `no serving certificate given (${GIVEN_BY}): using the self-signed one generated ` +
        `earlier at ${certPath}`,
      { certPath, keyPath },
    );
    return { certPath, keyPath, generated: true, reused: true };
  }
  if (problem !== "missing") {
    log.warn(`replacing the generated serving certificate at ${certPath}: ${problem}`);
  }
  const names = servingNames(config, options.hostAddresses ?? hostIPv4Addresses());
  const { certPem, keyPem, notAfter } = await makeSelfSigned(config.nodeName, names, now);
  await writeFileAtomic(keyPath, keyPem, 0o600);
  await writeFileAtomic(certPath, certPem, 0o644);
  log.info(
    `no serving certificate given (${GIVEN_BY}): generated a self-signed one at ${certPath}`,
    { certPath, keyPath, dns: names.dns.join(","), ips: names.ips.join(","), notAfter },
  );
  return { certPath, keyPath, generated: true, reused: false };
}

/** SANs: the node name, localhost, 127.0.0.1, VKUBELET_POD_IP and the host's addresses. */
export function servingNames(config: Config, hostAddresses: string[]): ServingNames {
  const dns = [config.nodeName, "localhost"];
  const ips = ["127.0.0.1", ...(config.podIp ? [config.podIp] : []), ...hostAddresses];
  return { dns: [...new Set(dns)], ips: [...new Set(ips.filter((ip) => isIP(ip) !== 0))] };
}

/** Non-internal IPv4 addresses of this host's interfaces. */
export function hostIPv4Addresses(): string[] {
  const addresses: string[] = [];
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      const v4 = info.family === "IPv4" || (info.family as unknown) === 4;
      if (v4 && !info.internal) addresses.push(info.address);
    }
  }
  return addresses;
}

/** Why the existing generated pair cannot be reused; undefined if it can. */
async function reuseProblem(
  certPath: string,
  keyPath: string,
  config: Config,
  now: Date,
): Promise<string | undefined> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await Deno.readTextFile(certPath);
    keyPem = await Deno.readTextFile(keyPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    return `cannot read it (${(err as Error).message})`;
  }
  // node:crypto reads it: no need to load @peculiar/x509 for a certificate that is fine.
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return "it is not a readable certificate";
  }
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() - now.getTime() < RENEW_BEFORE_MS) {
    return `it expires on ${notAfter.toISOString()}`;
  }
  const names = sanNames(cert);
  const wanted = [config.nodeName, ...(config.podIp ? [config.podIp] : [])];
  const missing = wanted.filter((n) => !names.has(n));
  if (missing.length > 0) return `it does not name ${missing.join(", ")}`;
  if (!keyMatches(certPem, keyPem)) return "its key file does not match it";
  return undefined;
}

/** Names in subjectAltName ("DNS:a, IP Address:1.2.3.4", as node:crypto prints it). */
function sanNames(cert: X509Certificate): Set<string> {
  const text = cert.subjectAltName ?? "";
  return new Set(
    text.split(",").map((part) => part.trim().replace(/^(DNS|IP Address):/, "")).filter((n) => n),
  );
}

function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({
      type: "spki",
      format: "der",
    });
    return fromCert.equals(fromKey);
  } catch {
    return false;
  }
}

/** A self-signed serving certificate (X.509 v3, ECDSA P-256 / SHA-256) and its PKCS#8 key. */
export async function makeSelfSigned(
  nodeName: string,
  names: ServingNames,
  now: Date,
): Promise<{ certPem: string; keyPem: string; notAfter: string }> {
  const x509 = await loadX509();
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const notAfter = new Date(now.getTime() + VALIDITY_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${nodeName}`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: "dns" as const, value })),
        ...names.ips.map((value) => ({ type: "ip" as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
    notAfter: notAfter.toISOString(),
  };
}

/** 16 random bytes, positive as a DER integer. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes through a temporary file and a rename, so readers never see half a file. */
async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
