// Unit tests of src/config/serving_cert.ts: the given pair is used as is; otherwise a
// self-signed X.509 v3 certificate is generated once, is accepted by Deno's TLS and node:https,
// and is reused until it expires or stops naming the node.

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { parseConfig } from "../../src/config/parse.ts";
import {
  ensureServingCert,
  type ServingCertOptions,
  servingNames,
} from "../../src/config/serving_cert.ts";
import type { Config } from "../../src/config/types.ts";
import { createLogger, type Logger } from "../../src/telemetry/log.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const HOST_ADDRESSES = ["192.0.2.10"];

function configFor(cacheDir: string, env: Record<string, string> = {}): Config {
  const result = parseConfig(["--nodename=dev-mac", `--cache-dir=${cacheDir}`], env, {
    os: "linux",
    homeDir: "/home/test",
    hostname: "ignored",
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: "debug", write: (l) => lines.push(l) }), lines };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "serving-cert-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** True when the DER certificate carries version v3 ([0] EXPLICIT INTEGER 2 in tbsCertificate). */
function isV3(der: Uint8Array): boolean {
  const lengthBytes = (offset: number) => der[offset] & 0x80 ? 1 + (der[offset] & 0x7f) : 1;
  const tbs = 1 + lengthBytes(1);
  const version = tbs + 1 + lengthBytes(tbs + 1);
  const expected = [0xa0, 0x03, 0x02, 0x01, 0x02];
  return expected.every((b, i) => der[version + i] === b);
}

/** keyUsage digitalSignature + keyEncipherment (critical), extKeyUsage serverAuth only. */
function assertServingUsages(pem: string): void {
  const cert = new x509.X509Certificate(pem);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  assert.ok(ku?.critical, "keyUsage present and critical");
  assert.equal(ku.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth]);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  assert.equal(basic?.ca, false);
  assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension), "subjectKeyIdentifier");
}

Deno.test("given certificate and key paths are returned unchanged", async () => {
  const config = {
    ...configFor("/nonexistent"),
    servingCertPath: "/etc/tls.crt",
    servingKeyPath: "/etc/tls.key",
  };
  const { log, lines } = recordingLogger();
  assert.deepEqual(await ensureServingCert(config, log), {
    certPath: "/etc/tls.crt",
    keyPath: "/etc/tls.key",
    generated: false,
    reused: false,
  });
  assert.deepEqual(lines, []);
});

Deno.test("generates a v3 ECDSA serving certificate with the node's names", async () => {
  await withTempDir(async (dir) => {
    const config = configFor(dir, { VKUBELET_POD_IP: "10.9.8.7" });
    const { log, lines } = recordingLogger();
    const now = new Date();
    const result = await ensureServingCert(config, log, { hostAddresses: HOST_ADDRESSES });
    assert.deepEqual(result, {
      certPath: `${dir}/pki/kubelet-serving.crt`,
      keyPath: `${dir}/pki/kubelet-serving.key`,
      generated: true,
      reused: false,
    });
    const cert = new X509Certificate(await Deno.readTextFile(result.certPath));
    assert.ok(isV3(new Uint8Array(cert.raw)), "X.509 v3");
    assert.equal(cert.subject, "CN=dev-mac");
    assert.equal(cert.issuer, "CN=dev-mac");
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(cert.publicKey), "self-signed");
    assert.equal(cert.publicKey.asymmetricKeyType, "ec");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assertServingUsages(await Deno.readTextFile(result.certPath));
    assert.equal(
      cert.subjectAltName,
      "DNS:dev-mac, DNS:localhost, IP Address:127.0.0.1, IP Address:10.9.8.7, " +
        "IP Address:192.0.2.10",
    );
    assert.equal(cert.checkHost("dev-mac"), "dev-mac");
    assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
    const days = (Date.parse(cert.validTo) - now.getTime()) / DAY_MS;
    assert.ok(days > 364 && days < 366, `valid for a year, got ${days} days`);
    assert.ok(cert.checkPrivateKey(
      (await import("node:crypto")).createPrivateKey(await Deno.readTextFile(result.keyPath)),
    ));
    assert.equal((await Deno.stat(result.keyPath)).mode! & 0o777, 0o600);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /level=info/);
    assert.ok(
      lines[0].includes(
        "no serving certificate given (APISERVER_CERT_LOCATION/APISERVER_KEY_LOCATION): " +
          `generated a self-signed one at ${result.certPath}`,
      ),
      lines[0],
    );
    assert.ok(!lines[0].includes("BEGIN"), "no key material in logs");
  });
});

Deno.test("the generated certificate serves TLS with Deno.listenTls", async () => {
  await withTempDir(async (dir) => {
    const { log } = recordingLogger();
    const { certPath, keyPath } = await ensureServingCert(configFor(dir), log);
    const cert = await Deno.readTextFile(certPath);
    const key = await Deno.readTextFile(keyPath);
    const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
    const serve = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(4);
      const n = await conn.read(buf);
      await conn.write(buf.subarray(0, n ?? 0));
      conn.close();
    })();
    const { port } = listener.addr as Deno.NetAddr;
    const client = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [cert] });
    await client.write(new TextEncoder().encode("ping"));
    const reply = new Uint8Array(4);
    assert.equal(await client.read(reply), 4);
    assert.equal(new TextDecoder().decode(reply), "ping");
    client.close();
    await serve;
    listener.close();
  });
});

Deno.test("the generated certificate serves HTTPS with node:https", async () => {
  await withTempDir(async (dir) => {
    const { log } = recordingLogger();
    const { certPath, keyPath } = await ensureServingCert(configFor(dir), log);
    const cert = await Deno.readTextFile(certPath);
    const key = await Deno.readTextFile(keyPath);
    const server = createServer({ cert, key }, (_req, res) => res.end("healthy"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const client = Deno.createHttpClient({ caCerts: [cert] });
    try {
      const res = await fetch(`https://localhost:${port}/healthz`, { client });
      assert.equal(await res.text(), "healthy");
    } finally {
      client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

Deno.test("a second call reuses the generated certificate", async () => {
  await withTempDir(async (dir) => {
    const config = configFor(dir);
    const first = await ensureServingCert(config, recordingLogger().log);
    const pem = await Deno.readTextFile(first.certPath);
    const { log, lines } = recordingLogger();
    const second = await ensureServingCert(config, log);
    assert.deepEqual(second, { ...first, reused: true });
    assert.equal(await Deno.readTextFile(second.certPath), pem);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /using the self-signed one generated earlier at /);
  });
});

/** Generates a certificate for `config`, then calls again with `second`; returns what changed. */
async function secondCall(
  config: Config,
  second: Config,
  options: ServingCertOptions = {},
): Promise<{ before: string; after: string; reused: boolean; lines: string[] }> {
  const { certPath } = await ensureServingCert(config, recordingLogger().log);
  const before = await Deno.readTextFile(certPath);
  const { log, lines } = recordingLogger();
  const { reused } = await ensureServingCert(second, log, options);
  return { before, after: await Deno.readTextFile(certPath), reused, lines };
}

Deno.test("regenerates a certificate expiring within 30 days", async () => {
  await withTempDir(async (dir) => {
    const config = configFor(dir);
    const later = new Date(Date.now() + 340 * DAY_MS);
    const { before, after, reused, lines } = await secondCall(config, config, { now: later });
    assert.equal(reused, false);
    assert.notEqual(after, before);
    assert.match(lines[0], /level=warn .*replacing the generated serving certificate.*expires on/);
    assert.ok(Date.parse(new X509Certificate(after).validTo) > later.getTime() + 364 * DAY_MS);
  });
});

Deno.test("regenerates when the node name or VKUBELET_POD_IP is not in the certificate", async () => {
  await withTempDir(async (dir) => {
    const config = configFor(dir);
    const renamed = await secondCall(config, { ...config, nodeName: "other-mac" });
    assert.equal(renamed.reused, false);
    assert.match(renamed.lines[0], /it does not name other-mac/);
    assert.match(new X509Certificate(renamed.after).subjectAltName ?? "", /DNS:other-mac/);
    const withIp = await secondCall(config, { ...config, podIp: "10.0.0.9" });
    assert.equal(withIp.reused, false);
    assert.match(new X509Certificate(withIp.after).subjectAltName ?? "", /IP Address:10.0.0.9/);
  });
});

Deno.test("regenerates when the key file does not match the certificate", async () => {
  await withTempDir(async (dir) => {
    const config = configFor(dir);
    const other = await Deno.makeTempDir({ dir });
    await ensureServingCert(configFor(other), recordingLogger().log);
    const { certPath, keyPath } = await ensureServingCert(config, recordingLogger().log);
    const before = await Deno.readTextFile(certPath);
    await Deno.copyFile(`${other}/pki/kubelet-serving.key`, keyPath);
    const { log, lines } = recordingLogger();
    assert.equal((await ensureServingCert(config, log)).reused, false);
    assert.match(lines[0], /its key file does not match it/);
    assert.notEqual(await Deno.readTextFile(certPath), before);
  });
});

Deno.test("servingNames: deduplicated, IP literals only among IPs", () => {
  const config = configFor("/c", { VKUBELET_POD_IP: "192.0.2.10" });
  assert.deepEqual(servingNames(config, ["192.0.2.10", "198.51.100.1"]), {
    dns: ["dev-mac", "localhost"],
    ips: ["127.0.0.1", "192.0.2.10", "198.51.100.1"],
  });
});
