// The public-key infrastructure of one test cluster, generated per run with WebCrypto and
// @peculiar/x509: a cluster CA, serving and client certificates for every control-plane
// component, per-node client and serving certificates, and the service-account key pair.
// Every certificate is X.509 v3 (ECDSA P-256, SHA-256) with basicConstraints, keyUsage,
// extKeyUsage, key identifiers and, for serving certificates, subjectAltName. Files are PEM.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

export interface CertPaths {
  cert: string;
  key: string;
}

export interface NodePki {
  clientCert: string;
  clientKey: string;
  servingCert: string;
  servingKey: string;
}

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiServer: CertPaths;
  admin: CertPaths;
  controllerManager: CertPaths;
  scheduler: CertPaths;
  kubeletClient: CertPaths;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** Client (CN=system:node:NAME, O=system:nodes) and serving certificates for node NAME. */
  issueNode(name: string): Promise<NodePki>;
  /** Any further certificate signed by the cluster CA. */
  issue(name: string, spec: CertSpec): Promise<CertPaths>;
}

export interface CertSpec {
  commonName: string;
  organizations?: string[];
  server?: boolean;
  client?: boolean;
  dnsNames?: string[];
  ips?: string[];
}

interface Authority {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

const EC_KEY: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;

export const SERVICE_CIDR = "10.0.0.0/24";
export const KUBERNETES_SERVICE_IP = "10.0.0.1";

function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // positive
  bytes[0] |= 0x01; // no leading zero byte
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function subject(commonName: string, organizations: string[] = []): x509.JsonName {
  const name: x509.JsonName = organizations.map((o) => ({ O: [o] }));
  name.push({ CN: [commonName] });
  return name;
}

async function writeKeyPair(path: string, cert: x509.X509Certificate, key: CryptoKey) {
  await Deno.writeTextFile(`${path}.crt`, cert.toString("pem") + "\n");
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
  await Deno.writeTextFile(`${path}.key`, pem("PRIVATE KEY", pkcs8), { mode: 0o600 });
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + 365 * DAY_MS) };
}

async function createAuthority(): Promise<Authority> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"]);
  const name = subject("macos-vz-kubelet-test-ca");
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    ...validity(),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

async function issueCert(
  ca: Authority,
  spec: CertSpec,
): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"]);
  const usages: string[] = [];
  if (spec.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (spec.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  const altNames: x509.JsonGeneralName[] = [
    ...(spec.dnsNames ?? []).map((value): x509.JsonGeneralName => ({ type: "dns", value })),
    ...(spec.ips ?? []).map((value): x509.JsonGeneralName => ({ type: "ip", value })),
  ];
  if (altNames.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(altNames, false));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subject(spec.commonName, spec.organizations),
    issuer: ca.cert.subjectName,
    ...validity(),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  return { cert, key: keys.privateKey };
}

/** IPv4 and global IPv6 addresses of this host's interfaces, loopback first. */
export function hostIps(): string[] {
  const ips = new Set<string>(["127.0.0.1"]);
  for (const iface of Deno.networkInterfaces()) {
    if (iface.family === "IPv6" && /^fe80:/i.test(iface.address)) continue;
    ips.add(iface.address.replace(/%.*$/, ""));
  }
  return [...ips];
}

async function writeServiceAccountKeys(dir: string): Promise<{ key: string; pub: string }> {
  const keys = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const key = `${dir}/service-account.key`;
  const pub = `${dir}/service-account.pub`;
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const spki = await crypto.subtle.exportKey("spki", keys.publicKey);
  await Deno.writeTextFile(key, pem("PRIVATE KEY", pkcs8), { mode: 0o600 });
  await Deno.writeTextFile(pub, pem("PUBLIC KEY", spki));
  return { key, pub };
}

/**
 * A CA of its own and one certificate it signed, for a TLS service outside the cluster (a
 * registry with a private CA). Writes `${dir}/ca.crt` and `${dir}/${name}.crt|.key`.
 */
export async function createPrivateCa(
  dir: string,
  name: string,
  spec: CertSpec,
): Promise<CertPaths & { caCert: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const ca = await createAuthority();
  await Deno.writeTextFile(`${dir}/ca.crt`, ca.cert.toString("pem") + "\n");
  const { cert, key } = await issueCert(ca, spec);
  await writeKeyPair(`${dir}/${name}`, cert, key);
  return { caCert: `${dir}/ca.crt`, cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key` };
}

/** Generates a fresh cluster PKI into `dir` (created if needed). */
export async function createPki(dir: string): Promise<Pki> {
  await Deno.mkdir(dir, { recursive: true });
  const ca = await createAuthority();
  await writeKeyPair(`${dir}/ca`, ca.cert, ca.keys.privateKey);

  const issue = async (name: string, spec: CertSpec): Promise<CertPaths> => {
    const { cert, key } = await issueCert(ca, spec);
    const base = `${dir}/${name}`;
    await writeKeyPair(base, cert, key);
    return { cert: `${base}.crt`, key: `${base}.key` };
  };

  const [apiServer, admin, controllerManager, scheduler, kubeletClient, sa] = await Promise.all([
    issue("kube-apiserver", {
      commonName: "kube-apiserver",
      server: true,
      dnsNames: [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
      ],
      ips: ["127.0.0.1", KUBERNETES_SERVICE_IP],
    }),
    issue("admin", { commonName: "admin", organizations: ["system:masters"], client: true }),
    issue("kube-controller-manager", {
      commonName: "system:kube-controller-manager",
      client: true,
    }),
    issue("kube-scheduler", { commonName: "system:kube-scheduler", client: true }),
    issue("kube-apiserver-kubelet-client", {
      commonName: "kube-apiserver-kubelet-client",
      organizations: ["system:masters"],
      client: true,
    }),
    writeServiceAccountKeys(dir),
  ]);

  const issueNode = async (name: string): Promise<NodePki> => {
    const nodeDir = `nodes/${name}`;
    await Deno.mkdir(`${dir}/${nodeDir}`, { recursive: true });
    const [client, serving] = await Promise.all([
      issue(`${nodeDir}/client`, {
        commonName: `system:node:${name}`,
        organizations: ["system:nodes"],
        client: true,
      }),
      issue(`${nodeDir}/serving`, {
        commonName: `system:node:${name}`,
        organizations: ["system:nodes"],
        server: true,
        dnsNames: [...new Set([name, "localhost"])],
        ips: hostIps(),
      }),
    ]);
    return {
      clientCert: client.cert,
      clientKey: client.key,
      servingCert: serving.cert,
      servingKey: serving.key,
    };
  };

  return {
    dir,
    caCert: `${dir}/ca.crt`,
    caKey: `${dir}/ca.key`,
    apiServer,
    admin,
    controllerManager,
    scheduler,
    kubeletClient,
    serviceAccountKey: sa.key,
    serviceAccountPub: sa.pub,
    issueNode,
    issue,
  };
}
