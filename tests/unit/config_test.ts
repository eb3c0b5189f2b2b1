// Unit tests of src/config: option table, flag/environment parsing, defaults per OS, error
// reporting (all at once, secrets hidden), redaction, help text, README's option tables and
// default paths.

import assert from "node:assert/strict";
import { type HostFacts, parseConfig, redactConfig, wantsHelp } from "../../src/config/parse.ts";
import { parseDurationSeconds } from "../../src/config/parse.ts";
import { helpText } from "../../src/config/help.ts";
import {
  acceptsText,
  defaultText,
  envTwinOf,
  GROUP_TITLES,
  OPTIONS,
} from "../../src/config/options.ts";
import {
  defaultCacheDir,
  defaultKubeconfigPath,
  expandHome,
  generatedServingCertPaths,
} from "../../src/config/paths.ts";
import type { Config } from "../../src/config/types.ts";

type Env = Record<string, string | undefined>;

const LINUX: HostFacts = { os: "linux", homeDir: "/home/vz", hostname: "Build-Host-7" };
const DARWIN: HostFacts = { os: "darwin", homeDir: "/Users/ci", hostname: "Mac-Mini.local" };

function ok(args: string[], env: Env = {}, host: HostFacts = LINUX): Config {
  const result = parseConfig(args, env, host);
  if (!result.ok) throw new Error("unexpected errors:\n" + result.errors.join("\n"));
  return result.config;
}

function errors(args: string[], env: Env = {}, host: HostFacts = LINUX): string[] {
  const result = parseConfig(args, env, host);
  if (result.ok) throw new Error("expected errors, got a config");
  return result.errors;
}

function withFiles(host: HostFacts, files: string[]): HostFacts {
  const set = new Set(files);
  return { ...host, pathExists: (p) => set.has(p) };
}

const PEM_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n" +
  "-----END OPENSSH PRIVATE KEY-----\n";

// ---------------------------------------------------------------------------------------------
// Defaults

Deno.test("defaults on Linux", () => {
  const c = ok([]);
  assert.deepEqual(
    c,
    {
      nodeName: "build-host-7",
      providerId: undefined,
      startupTimeoutSeconds: 0,
      disableTaint: false,
      taint: { key: "virtual-kubelet.io/provider", value: "macos-vz", effect: "NoSchedule" },
      logLevel: "info",
      podSyncWorkers: 10,
      fullResyncPeriodSeconds: 60,
      kubeconfigPath: "/home/vz/.kube/config",
      servingCertPath: undefined,
      servingKeyPath: undefined,
      apiserverCaPath: undefined,
      clientVerifyCaPath: undefined,
      noVerifyClients: false,
      authenticationTokenWebhook: false,
      connectionTimeouts: { tlsHandshakeSeconds: 10, requestHeaderSeconds: 10, idleSeconds: 30 },
      authenticationTokenWebhookCacheTtlSeconds: 0,
      authorizationWebhookCacheAuthorizedTtlSeconds: 0,
      authorizationWebhookCacheUnauthorizedTtlSeconds: 0,
      kubeletPort: 10250,
      traceSampleRate: undefined,
      otlpEndpoint: undefined,
      otlpInsecure: false,
      otelServiceName: undefined,
      podIp: undefined,
      bridgeInterface: undefined,
      ssh: {
        user: undefined,
        password: undefined,
        privateKeyPath: undefined,
        privateKey: undefined,
        privateKeyPassphrase: undefined,
      },
      dockerHost: "unix:///var/run/docker.sock",
      dockerNetwork: "bridge",
      apiProxyPort: 443,
      cacheDir: "/home/vz/.cache/macos-vz-kubelet",
      backend: "qemu",
      maxVms: 2,
      sshReadinessTimeoutSeconds: 600,
      qemu: { bridge: "vzk0", subnet: "10.251.0.0/24", nat: true },
      insecureRegistries: [],
      registryCaPath: undefined,
      allowImageCopy: false,
      vz: { machineId: "new" },
      imageGc: { unusedForSeconds: 604800, minFreePercent: 15 },
    } satisfies Config,
  );
});

Deno.test("defaults on macOS: vz backend, Library/Caches, lowercased host name", () => {
  const c = ok([], {}, DARWIN);
  assert.equal(c.backend, "vz");
  assert.equal(c.cacheDir, "/Users/ci/Library/Caches/com.agoda.fleet.virtualization");
  assert.equal(c.nodeName, "mac-mini.local");
  assert.equal(c.kubeconfigPath, "/Users/ci/.kube/config");
});

Deno.test("Linux cache dir follows an absolute XDG_CACHE_HOME", () => {
  assert.equal(
    ok([], { XDG_CACHE_HOME: "/var/cache/ci" }).cacheDir,
    "/var/cache/ci/macos-vz-kubelet",
  );
  assert.equal(ok([], { XDG_CACHE_HOME: "rel" }).cacheDir, "/home/vz/.cache/macos-vz-kubelet");
});

Deno.test("an empty environment variable counts as unset", () => {
  const c = ok([], { VZK_NODENAME: "", KUBELET_PORT: "", DOCKER_HOST: "", VZ_SSH_PASSWORD: "" });
  assert.equal(c.nodeName, "build-host-7");
  assert.equal(c.kubeletPort, 10250);
  assert.equal(c.dockerHost, "unix:///var/run/docker.sock");
  assert.equal(c.ssh.password, undefined);
});

// ---------------------------------------------------------------------------------------------
// Every option

const KEY_B64 = btoa(PEM_KEY);
const EXISTING = [
  "/etc/vz/kubeconfig",
  "/etc/vz/serving.crt",
  "/etc/vz/serving.key",
  "/etc/vz/ca.crt",
  "/etc/vz/clients-ca.crt",
  "/etc/vz/id_ed25519",
  "/etc/vz/registry-ca.crt",
];

Deno.test("every option is read", () => {
  const args = [
    "--nodename=dev-mac",
    "--provider-id",
    "provider://c7fcb693",
    "--startup-timeout=5m",
    "--disable-taint",
    "--log-level",
    "debug",
    "--pod-sync-workers=4",
    "--full-resync-period=2m",
    "--client-verify-ca=/etc/vz/clients-ca.crt",
    "--no-verify-clients=true",
    "--authentication-token-webhook",
    "true",
    "--authentication-token-webhook-cache-ttl=2m",
    "--authorization-webhook-cache-authorized-ttl=5m",
    "--authorization-webhook-cache-unauthorized-ttl=30s",
    "--tls-handshake-timeout=5s",
    "--request-header-timeout=20",
    "--idle-connection-timeout=2m",
    "--trace-sample-rate=25%",
    "--cache-dir=/srv/vz-cache",
    "--backend=qemu",
    "--max-vms=3",
    "--ssh-readiness-timeout=90s",
    "--qemu-bridge=br-test",
    "--qemu-subnet=10.77.0.0/16",
    "--qemu-nat=false",
    "--insecure-registries=reg.local:5000,other:80",
    "--registry-ca=/etc/vz/registry-ca.crt",
    "--allow-image-copy",
    "--vz-machine-id=image",
    "--image-gc-unused-for=24h",
    "--image-gc-min-free=20",
  ];
  const env: Env = {
    KUBECONFIG: "/etc/vz/kubeconfig",
    APISERVER_CERT_LOCATION: "/etc/vz/serving.crt",
    APISERVER_KEY_LOCATION: "/etc/vz/serving.key",
    APISERVER_CA_CERT_LOCATION: "/etc/vz/ca.crt",
    OTEL_EXPORTER_OTLP_ENDPOINT: "otel.local.:4317",
    OTEL_EXPORTER_OTLP_INSECURE: "true",
    OTEL_SERVICE_NAME: "fleet-macos-vz",
    VKUBELET_POD_IP: "10.1.2.3",
    VZ_BRIDGE_INTERFACE: "vlan0",
    VZ_SSH_USER: "admin",
    VZ_SSH_PASSWORD: "pw-1",
    VZ_SSH_PRIVATE_KEY_BASE64: KEY_B64,
    VZ_SSH_PRIVATE_KEY_PASSPHRASE: "pp-1",
    DOCKER_HOST: "tcp://127.0.0.1:2375",
    VZK_DOCKER_NETWORK: "ci-net",
    VZK_API_PROXY_PORT: "8443",
    KUBELET_PORT: "10260",
    VKUBELET_TAINT_KEY: "example.com/mac",
    VKUBELET_TAINT_VALUE: "yes",
    VKUBELET_TAINT_EFFECT: "NoExecute",
  };
  const c = ok(args, env, withFiles(LINUX, EXISTING));
  assert.deepEqual(
    c,
    {
      nodeName: "dev-mac",
      providerId: "provider://c7fcb693",
      startupTimeoutSeconds: 300,
      disableTaint: true,
      taint: { key: "example.com/mac", value: "yes", effect: "NoExecute" },
      logLevel: "debug",
      podSyncWorkers: 4,
      fullResyncPeriodSeconds: 120,
      kubeconfigPath: "/etc/vz/kubeconfig",
      servingCertPath: "/etc/vz/serving.crt",
      servingKeyPath: "/etc/vz/serving.key",
      apiserverCaPath: "/etc/vz/ca.crt",
      clientVerifyCaPath: "/etc/vz/clients-ca.crt",
      noVerifyClients: true,
      authenticationTokenWebhook: true,
      connectionTimeouts: { tlsHandshakeSeconds: 5, requestHeaderSeconds: 20, idleSeconds: 120 },
      authenticationTokenWebhookCacheTtlSeconds: 120,
      authorizationWebhookCacheAuthorizedTtlSeconds: 300,
      authorizationWebhookCacheUnauthorizedTtlSeconds: 30,
      kubeletPort: 10260,
      traceSampleRate: 0.25,
      otlpEndpoint: "http://otel.local.:4317",
      otlpInsecure: true,
      otelServiceName: "fleet-macos-vz",
      podIp: "10.1.2.3",
      bridgeInterface: "vlan0",
      ssh: {
        user: "admin",
        password: "pw-1",
        privateKeyPath: undefined,
        privateKey: PEM_KEY,
        privateKeyPassphrase: "pp-1",
      },
      dockerHost: "tcp://127.0.0.1:2375",
      dockerNetwork: "ci-net",
      apiProxyPort: 8443,
      cacheDir: "/srv/vz-cache",
      backend: "qemu",
      maxVms: 3,
      sshReadinessTimeoutSeconds: 90,
      qemu: { bridge: "br-test", subnet: "10.77.0.0/16", nat: false },
      insecureRegistries: ["reg.local:5000", "other:80"],
      registryCaPath: "/etc/vz/registry-ca.crt",
      allowImageCopy: true,
      vz: { machineId: "image" },
      imageGc: { unusedForSeconds: 86400, minFreePercent: 20 },
    } satisfies Config,
  );
});

Deno.test("every flag has an environment twin VZK_<FLAG> that works", () => {
  const samples: Record<string, string> = {
    "nodename": "dev-mac",
    "provider-id": "provider://x",
    "startup-timeout": "7",
    "disable-taint": "true",
    "log-level": "error",
    "pod-sync-workers": "3",
    "full-resync-period": "9",
    "client-verify-ca": "/ca.pem",
    "no-verify-clients": "yes",
    "authentication-token-webhook": "1",
    "authentication-token-webhook-cache-ttl": "11",
    "authorization-webhook-cache-authorized-ttl": "12",
    "authorization-webhook-cache-unauthorized-ttl": "13",
    "tls-handshake-timeout": "3",
    "request-header-timeout": "4s",
    "idle-connection-timeout": "1m",
    "trace-sample-rate": "50",
    "cache-dir": "/cache",
    "backend": "qemu",
    "max-vms": "4",
    "ssh-readiness-timeout": "2m",
    "qemu-bridge": "br9",
    "qemu-subnet": "10.9.0.0/24",
    "qemu-nat": "false",
    "docker-network": "pods",
    "api-proxy-port": "9443",
    "insecure-registries": "reg.local:5000,other:80",
    "registry-ca": "/etc/ssl/registry-ca.pem",
    "allow-image-copy": "true",
    "vz-machine-id": "image",
    "image-gc-unused-for": "24h",
    "image-gc-min-free": "20",
  };
  const flags = OPTIONS.filter((o) => o.flag);
  assert.deepEqual(flags.map((o) => o.flag).sort(), Object.keys(samples).sort());
  for (const spec of flags) {
    assert.equal(spec.env, envTwinOf(spec.flag!), `env twin of --${spec.flag}`);
    const value = samples[spec.flag!];
    // On macOS, so that --backend=qemu differs from the default.
    const viaFlag = redactConfig(ok([`--${spec.flag}=${value}`], {}, DARWIN));
    const viaEnv = redactConfig(ok([], { [spec.env]: value }, DARWIN));
    assert.deepEqual(viaEnv, viaFlag, `--${spec.flag} and ${spec.env} agree`);
    const byDefault = redactConfig(ok([], {}, DARWIN));
    assert.notDeepEqual(viaFlag, byDefault, `--${spec.flag}=${value} changes something`);
  }
});

Deno.test("VZK_NODENAME names the node (the dev cluster exports it)", () => {
  assert.equal(ok([], { VZK_NODENAME: "dev-mac" }).nodeName, "dev-mac");
});

Deno.test("a flag wins over its environment twin, which wins over the default", () => {
  const env = { VZK_NODENAME: "from-env", VZK_POD_SYNC_WORKERS: "3", VZK_DISABLE_TAINT: "true" };
  const c = ok(["--nodename", "from-flag", "--pod-sync-workers=5", "--disable-taint=false"], env);
  assert.equal(c.nodeName, "from-flag");
  assert.equal(c.podSyncWorkers, 5);
  assert.equal(c.disableTaint, false);
  assert.equal(ok([], env).podSyncWorkers, 3);
});

Deno.test("a repeated flag: the last one wins", () => {
  assert.equal(ok(["--pod-sync-workers=2", "--pod-sync-workers=8"]).podSyncWorkers, 8);
});

Deno.test("boolean flags: bare, =value, and a following true/false (Go plist form)", () => {
  assert.equal(ok(["--no-verify-clients"]).noVerifyClients, true);
  assert.equal(ok(["--no-verify-clients=false"]).noVerifyClients, false);
  assert.equal(ok(["--no-verify-clients=NO"]).noVerifyClients, false);
  const c = ok(["--authentication-token-webhook", "true", "--nodename", "vk-macos-vz-test"]);
  assert.equal(c.authenticationTokenWebhook, true);
  assert.equal(c.nodeName, "vk-macos-vz-test");
  assert.equal(ok(["--disable-taint", "false"]).disableTaint, false);
  assert.match(errors(["--disable-taint=maybe"])[0], /^--disable-taint: "maybe" is not a boolean/);
});

Deno.test("--help and -h are accepted by parseConfig and detected by wantsHelp", () => {
  assert.equal(ok(["--help"]).nodeName, "build-host-7");
  assert.equal(wantsHelp(["--nodename=x", "-h"]), true);
  assert.equal(wantsHelp(["--help"]), true);
  assert.equal(wantsHelp(["--nodename=x"]), false);
  assert.equal(wantsHelp(["--", "--help"]), false);
});

// ---------------------------------------------------------------------------------------------
// Errors

Deno.test("errors name the option, the bad value and what is accepted", () => {
  assert.deepEqual(errors(["--pod-sync-workers=abc"]), [
    '--pod-sync-workers: "abc" is not a whole number; give an integer >= 1',
  ]);
  assert.deepEqual(errors([], { VZK_POD_SYNC_WORKERS: "0" }), [
    'VZK_POD_SYNC_WORKERS: "0" is out of range; give an integer >= 1',
  ]);
  assert.deepEqual(errors([], { KUBELET_PORT: "70000" }), [
    'KUBELET_PORT: "70000" is out of range; give an integer from 1 to 65535',
  ]);
  assert.deepEqual(errors(["--log-level=loud"]), [
    '--log-level: "loud" is not a known value; give one of debug, info, warn, error ' +
    "(warning = warn)",
  ]);
});

Deno.test("every problem is reported in one run", () => {
  const errs = errors(
    [
      "--pod-sync-workers=abc",
      "--log-level=loud",
      "--backend=vz",
      "--bogus",
      "--full-resync-period=0",
    ],
    {
      KUBELET_PORT: "0",
      VKUBELET_POD_IP: "not-an-ip",
      DOCKER_HOST: "ftp://x",
      VKUBELET_TAINT_EFFECT: "Sometimes",
      APISERVER_CERT_LOCATION: "/only/cert.pem",
    },
  );
  const expectations = [
    /^--pod-sync-workers: "abc"/,
    /^--log-level: "loud"/,
    /^--backend: "vz" needs macOS/,
    /^unknown option --bogus/,
    /^--full-resync-period: "0" is out of range/,
    /^KUBELET_PORT: "0"/,
    /^VKUBELET_POD_IP: "not-an-ip" is not an IP address/,
    /^DOCKER_HOST: "ftp:\/\/x"/,
    /^VKUBELET_TAINT_EFFECT: "Sometimes" is not a known value; give one of NoSchedule, /,
    /^APISERVER_CERT_LOCATION and APISERVER_KEY_LOCATION go together/,
  ];
  for (const re of expectations) assert.ok(errs.some((e) => re.test(e)), `${re} in ${errs}`);
  assert.equal(errs.length, expectations.length, errs.join("\n"));
});

Deno.test("unknown options, stray arguments and missing values", () => {
  assert.deepEqual(errors(["--foo"]), ["unknown option --foo; see --help"]);
  assert.deepEqual(errors(["--nodenam=x"]), [
    "unknown option --nodenam (did you mean --nodename?); see --help",
  ]);
  assert.deepEqual(errors(["-nodename", "x"]), [
    "unknown option -nodename: options start with two dashes (did you mean --nodename?); " +
    "see --help",
  ]);
  assert.deepEqual(errors(["--kubeconfig=/x"]), [
    "unknown option --kubeconfig: KUBECONFIG is set through the environment only; see --help",
  ]);
  assert.deepEqual(errors(["serve"]), [
    'unexpected argument "serve": options take the form --name=value; see --help',
  ]);
  assert.deepEqual(errors(["--nodename"]), ["--nodename: needs a value; give --nodename=NAME"]);
  assert.deepEqual(errors(["--nodename", "--disable-taint"]), [
    "--nodename: needs a value; give --nodename=NAME",
  ]);
  assert.match(errors(["--provider-id="])[0], /^--provider-id: "" is empty/);
});

Deno.test("secrets never appear in errors", () => {
  const secrets = ["hunter2-password", "s3cret-passphrase", "not!base64!key"];
  const errs = [
    ...errors([], { VZ_SSH_PASSWORD: secrets[0], VZ_SSH_PRIVATE_KEY_PASSPHRASE: secrets[1] }),
    ...errors([], { VZ_SSH_USER: "u", VZ_SSH_PRIVATE_KEY_BASE64: secrets[2] }),
    ...errors([], { VZ_SSH_USER: "u", VZ_SSH_PRIVATE_KEY_BASE64: btoa(secrets[0]) }),
    ...errors([`--ssh-password=${secrets[0]}`, "--vz-ssh-password", secrets[1]]),
  ];
  assert.ok(errs.length >= 6, errs.join("\n"));
  for (const e of errs) {
    for (const s of [...secrets, btoa(secrets[0])]) assert.ok(!e.includes(s), e);
  }
  assert.ok(errs.some((e) => e.includes("the value given (hidden) is not valid base64")));
  assert.ok(errs.some((e) => e.includes("does not decode to a PEM private key")));
  assert.ok(errs.some((e) => e.startsWith("VZ_SSH_USER is not set")));
  assert.ok(errs.some((e) => e.startsWith("VZ_SSH_PRIVATE_KEY_PASSPHRASE is set but")));
  assert.ok(errs.some((e) => e.startsWith("unknown option --vz-ssh-password: VZ_SSH_PASSWORD")));
});

Deno.test("redactConfig hides every secret and keeps the rest", () => {
  const c = ok([], {
    VZ_SSH_USER: "admin",
    VZ_SSH_PASSWORD: "pw-1",
    VZ_SSH_PRIVATE_KEY_BASE64: KEY_B64,
    VZ_SSH_PRIVATE_KEY_PASSPHRASE: "pp-1",
  });
  const r = redactConfig(c);
  const text = JSON.stringify(r);
  for (const s of ["pw-1", "pp-1", "OPENSSH", "b3BlbnNzaC1rZXk"]) assert.ok(!text.includes(s), s);
  assert.equal(r["ssh.password"], "[redacted]");
  assert.equal(r["ssh.privateKey"], "[redacted]");
  assert.equal(r["ssh.privateKeyPassphrase"], "[redacted]");
  assert.equal(r["ssh.user"], "admin");
  assert.equal(r.nodeName, "build-host-7");
  assert.equal(r.taint, "virtual-kubelet.io/provider=macos-vz:NoSchedule");
  const plain = redactConfig(ok([]));
  assert.equal(plain["ssh.password"], "unset");
  assert.equal(redactConfig(ok(["--disable-taint"])).taint, "disabled");
});

// ---------------------------------------------------------------------------------------------
// Kinds of values

Deno.test("durations: seconds or Go durations, whole seconds only", () => {
  const ttl = (v: string) =>
    ok([`--authentication-token-webhook-cache-ttl=${v}`])
      .authenticationTokenWebhookCacheTtlSeconds;
  assert.equal(ttl("0"), 0);
  assert.equal(ttl("90"), 90);
  assert.equal(ttl("2m"), 120);
  assert.equal(ttl("30s"), 30);
  assert.equal(ttl("1h30m"), 5400);
  assert.equal(ttl("1.5m"), 90);
  assert.equal(ttl("2000ms"), 2);
  assert.equal(ttl("0s"), 0);
  const bad = (v: string) => errors([`--authentication-token-webhook-cache-ttl=${v}`])[0];
  assert.match(bad("500ms"), /"500ms" is not a whole number of seconds; give whole seconds >= 0/);
  assert.match(bad("-5s"), /"-5s" is negative/);
  assert.match(bad("5x"), /"5x" is neither a number of seconds nor a duration/);
  assert.match(bad("m"), /is neither/);
  assert.match(
    errors(["--full-resync-period=0s"])[0],
    /^--full-resync-period: "0s" is out of range/,
  );
  assert.equal(ok(["--startup-timeout=1h"]).startupTimeoutSeconds, 3600);
});

Deno.test("parseDurationSeconds follows Go's syntax", () => {
  assert.equal(parseDurationSeconds("1h2m3s"), 3723);
  assert.equal(parseDurationSeconds("1.5h"), 5400);
  assert.equal(parseDurationSeconds("-2m"), -120);
  assert.equal(parseDurationSeconds("250ms"), 0.25);
  assert.equal(parseDurationSeconds("1us"), 1e-6);
  assert.equal(parseDurationSeconds("10"), undefined);
  assert.equal(parseDurationSeconds("1d"), undefined);
  assert.equal(parseDurationSeconds(""), undefined);
});

Deno.test("trace sample rate: always, never or a percentage", () => {
  const rate = (v: string) => ok([`--trace-sample-rate=${v}`]).traceSampleRate;
  assert.equal(rate("always"), 1);
  assert.equal(rate("Never"), 0);
  assert.equal(rate("25"), 0.25);
  assert.equal(rate("25%"), 0.25);
  assert.equal(rate("0.5"), 0.005);
  assert.equal(rate("100"), 1);
  assert.match(errors(["--trace-sample-rate=150"])[0], /"150" is above 100%; give always, never/);
  assert.match(errors(["--trace-sample-rate=often"])[0], /"often" is not a sampling rate/);
});

Deno.test("log level: case-insensitive, warning means warn", () => {
  assert.equal(ok(["--log-level=WARN"]).logLevel, "warn");
  assert.equal(ok(["--log-level=warning"]).logLevel, "warn");
  assert.equal(ok([], { VZK_LOG_LEVEL: "Debug" }).logLevel, "debug");
});

Deno.test("taint: key, value and effect from the environment, validated", () => {
  const c = ok([], {
    VKUBELET_TAINT_KEY: "fleet.example.com/macos",
    VKUBELET_TAINT_VALUE: "macOS-vz",
    VKUBELET_TAINT_EFFECT: "preferNoSchedule",
  });
  assert.deepEqual(c.taint, {
    key: "fleet.example.com/macos",
    value: "macOS-vz",
    effect: "PreferNoSchedule",
  });
  assert.equal(ok([], { VKUBELET_TAINT_KEY: "dedicated" }).taint.key, "dedicated");
  for (const key of ["bad key", "Example.com/x", "a/b/c", "/x", "x/", "-x", "a".repeat(64)]) {
    assert.match(
      errors([], { VKUBELET_TAINT_KEY: key })[0],
      /^VKUBELET_TAINT_KEY: ".*" is not a valid qualified name; give a qualified name/,
      key,
    );
  }
  assert.match(errors([], { VKUBELET_TAINT_VALUE: "has space" })[0], /not a valid label value/);
  assert.match(
    errors([], { VKUBELET_TAINT_EFFECT: "Never" })[0],
    /^VKUBELET_TAINT_EFFECT: "Never"/,
  );
});

Deno.test("backend: defaults by OS; vz on Linux is an error naming the fix", () => {
  assert.equal(ok([]).backend, "qemu");
  assert.equal(ok([], {}, DARWIN).backend, "vz");
  assert.equal(ok(["--backend=qemu"], {}, DARWIN).backend, "qemu");
  assert.equal(ok(["--backend=VZ"], {}, DARWIN).backend, "vz");
  assert.deepEqual(errors(["--backend=vz"]), [
    '--backend: "vz" needs macOS (Apple\'s Virtualization framework) and this host runs ' +
    "linux; give --backend=qemu, or leave it unset to get qemu",
  ]);
  assert.match(errors([], { VZK_BACKEND: "vz" })[0], /^VZK_BACKEND: "vz" needs macOS/);
  assert.match(
    errors(["--backend=hyperv"])[0],
    /"hyperv" is not a known value; give one of vz, qemu/,
  );
});

Deno.test("node name: explicit names are validated as given, host names lowercased", () => {
  assert.equal(ok(["--nodename=mac-01.fleet.example.com"]).nodeName, "mac-01.fleet.example.com");
  assert.match(
    errors(["--nodename=Dev-Mac"])[0],
    /^--nodename: "Dev-Mac" is not a valid DNS-1123 subdomain; give a DNS-1123 subdomain/,
  );
  assert.match(errors(["--nodename=a..b"])[0], /not a valid DNS-1123 subdomain/);
  assert.match(errors(["--nodename=" + "a".repeat(254)])[0], /not a valid DNS-1123 subdomain/);
  assert.equal(ok([], {}, { ...LINUX, hostname: "CI-Runner" }).nodeName, "ci-runner");
  const errs = errors([], {}, { ...LINUX, hostname: "ci_runner" });
  assert.match(
    errs[0],
    /this host's name "ci_runner" is not a valid node name; give --nodename=NAME/,
  );
  assert.equal(
    ok(["--nodename=ok-name"], {}, { ...LINUX, hostname: "ci_runner" }).nodeName,
    "ok-name",
  );
});

Deno.test("paths: existence checked through host.pathExists, ~ expanded", () => {
  const host = withFiles(LINUX, ["/home/vz/ca.pem", "/home/vz/kc"]);
  const c = ok([], { APISERVER_CA_CERT_LOCATION: "~/ca.pem", KUBECONFIG: "~/kc" }, host);
  assert.equal(c.apiserverCaPath, "/home/vz/ca.pem");
  assert.equal(c.clientVerifyCaPath, "/home/vz/ca.pem", "--client-verify-ca defaults to it");
  assert.equal(c.kubeconfigPath, "/home/vz/kc");
  const errs = errors(["--client-verify-ca=/nope/ca.pem"], {
    APISERVER_CERT_LOCATION: "/nope/tls.crt",
    APISERVER_KEY_LOCATION: "/nope/tls.key",
    VZ_SSH_USER: "u",
    VZ_SSH_PRIVATE_KEY_PATH: "/nope/id",
    KUBECONFIG: "/nope/kc",
  }, host);
  assert.deepEqual(errs, [
    'KUBECONFIG: "/nope/kc" does not exist; give the path of an existing file',
    'APISERVER_CERT_LOCATION: "/nope/tls.crt" does not exist; give the path of an existing file',
    'APISERVER_KEY_LOCATION: "/nope/tls.key" does not exist; give the path of an existing file',
    '--client-verify-ca: "/nope/ca.pem" does not exist; give the path of an existing file',
    'VZ_SSH_PRIVATE_KEY_PATH: "/nope/id" does not exist; give the path of an existing file',
  ]);
  // The default kubeconfig and cache dir are not required to exist.
  assert.equal(ok([], {}, withFiles(LINUX, [])).kubeconfigPath, "/home/vz/.kube/config");
  // Without pathExists nothing is checked.
  assert.equal(ok([], { KUBECONFIG: "/nope/kc" }).kubeconfigPath, "/nope/kc");
});

Deno.test("KUBECONFIG may list files; the first must exist", () => {
  const host = withFiles(LINUX, ["/a/kc"]);
  assert.equal(ok([], { KUBECONFIG: "/a/kc:/b/kc" }, host).kubeconfigPath, "/a/kc:/b/kc");
  assert.match(
    errors([], { KUBECONFIG: "/b/kc:/a/kc" }, host)[0],
    /^KUBECONFIG: "\/b\/kc:\/a\/kc" starts with a file that does not exist/,
  );
});

Deno.test("serving certificate and key go together", () => {
  const expected = "APISERVER_CERT_LOCATION and APISERVER_KEY_LOCATION go together: give both " +
    "(the kubelet's serving certificate and its key) or neither (a self-signed certificate is " +
    "then generated)";
  assert.deepEqual(errors([], { APISERVER_KEY_LOCATION: "/k" }), [expected]);
  assert.deepEqual(errors([], { APISERVER_CERT_LOCATION: "/c" }), [expected]);
  const c = ok([], { APISERVER_CERT_LOCATION: "/c", APISERVER_KEY_LOCATION: "/k" });
  assert.equal(c.servingCertPath, "/c");
  assert.equal(c.servingKeyPath, "/k");
});

Deno.test("Docker host: unix, tcp, http and https", () => {
  for (
    const v of ["unix:///run/docker.sock", "tcp://10.0.0.1:2376", "http://d:2375", "https://d"]
  ) {
    assert.equal(ok([], { DOCKER_HOST: v }).dockerHost, v);
  }
  for (const v of ["unix://relative.sock", "unix://", "ssh://me@host", "/var/run/docker.sock"]) {
    assert.match(
      errors([], { DOCKER_HOST: v })[0],
      /is not a Docker daemon address; give unix:/,
      v,
    );
  }
});

Deno.test("OTLP endpoint: URLs kept, host:port given a scheme", () => {
  const ep = (env: Env) => ok([], env).otlpEndpoint;
  assert.equal(ep({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel:4318" }), "https://otel:4318");
  assert.equal(ep({ OTEL_EXPORTER_OTLP_ENDPOINT: "otel:4318" }), "https://otel:4318");
  assert.equal(
    ep({ OTEL_EXPORTER_OTLP_ENDPOINT: "otel:4318", OTEL_EXPORTER_OTLP_INSECURE: "TRUE" }),
    "http://otel:4318",
  );
  assert.match(
    errors([], { OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://otel:4317" })[0],
    /^OTEL_EXPORTER_OTLP_ENDPOINT: "grpc:\/\/otel:4317" is not an http\(s\) URL/,
  );
  assert.match(errors([], { OTEL_EXPORTER_OTLP_INSECURE: "sure" })[0], /"sure" is not a boolean/);
});

Deno.test("pod IP: IPv4 or IPv6; bridge interface names", () => {
  assert.equal(ok([], { VKUBELET_POD_IP: "fd00::5" }).podIp, "fd00::5");
  assert.equal(ok([], { VKUBELET_POD_IP: "192.168.64.2" }).podIp, "192.168.64.2");
  assert.match(errors([], { VKUBELET_POD_IP: "300.1.1.1" })[0], /is not an IP address/);
  assert.equal(ok([], { VZ_BRIDGE_INTERFACE: "en0" }).bridgeInterface, "en0");
  assert.match(errors([], { VZ_BRIDGE_INTERFACE: "a-very-long-interface" })[0], /interface name/);
});

Deno.test("SSH credentials: key path or base64, not both; passphrase needs a key", () => {
  const host = withFiles(LINUX, ["/keys/id"]);
  const c = ok([], { VZ_SSH_USER: "admin", VZ_SSH_PRIVATE_KEY_PATH: "/keys/id" }, host);
  assert.equal(c.ssh.privateKeyPath, "/keys/id");
  assert.equal(
    ok([], { VZ_SSH_USER: "a", VZ_SSH_PRIVATE_KEY_BASE64: KEY_B64 }).ssh.privateKey,
    PEM_KEY,
  );
  const wrapped = KEY_B64.replace(/(.{20})/g, "$1\n");
  assert.equal(
    ok([], { VZ_SSH_USER: "a", VZ_SSH_PRIVATE_KEY_BASE64: wrapped }).ssh.privateKey,
    PEM_KEY,
  );
  assert.deepEqual(
    errors([], {
      VZ_SSH_USER: "admin",
      VZ_SSH_PRIVATE_KEY_PATH: "/keys/id",
      VZ_SSH_PRIVATE_KEY_BASE64: KEY_B64,
    }, host),
    ["VZ_SSH_PRIVATE_KEY_PATH and VZ_SSH_PRIVATE_KEY_BASE64 are both set: give one of them"],
  );
  assert.equal(ok([], { VZ_SSH_USER: "admin", VZ_SSH_PASSWORD: "pw" }).ssh.password, "pw");
  assert.match(errors([], { VZ_SSH_USER: "two words" })[0], /^VZ_SSH_USER: "two words" contains/);
});

// ---------------------------------------------------------------------------------------------
// Help and the table

Deno.test("help lists every flag, environment variable and default from the table", () => {
  const help = helpText();
  for (const spec of OPTIONS) {
    if (spec.flag) assert.ok(help.includes(`--${spec.flag}`), spec.flag);
    assert.ok(help.includes(spec.env), spec.env);
    const squashed = help.replace(/\s+/g, " ");
    assert.ok(squashed.includes(`Default: ${defaultText(spec)}.`), `default of ${spec.env}`);
    assert.ok(squashed.includes(spec.description), `description of ${spec.env}`);
  }
  for (
    const upstream of [
      "KUBECONFIG",
      "APISERVER_CERT_LOCATION",
      "APISERVER_KEY_LOCATION",
      "APISERVER_CA_CERT_LOCATION",
      "OTEL_EXPORTER_OTLP_ENDPOINT",
      "OTEL_EXPORTER_OTLP_INSECURE",
      "OTEL_SERVICE_NAME",
      "VKUBELET_POD_IP",
      "VZ_BRIDGE_INTERFACE",
      "VZ_SSH_USER",
      "VZ_SSH_PASSWORD",
      "DOCKER_HOST",
    ]
  ) {
    assert.ok(help.includes(upstream), upstream);
  }
  for (const line of help.split("\n")) assert.ok(line.length <= 100, `too long: ${line}`);
  assert.ok(help.endsWith("\n"));
});

Deno.test("the table: unique flags and variables, defaults valid, secrets env-only", () => {
  const flags = OPTIONS.flatMap((o) => o.flag ? [o.flag] : []);
  const envs = OPTIONS.map((o) => o.env);
  assert.equal(new Set(flags).size, flags.length);
  assert.equal(new Set(envs).size, envs.length);
  assert.equal(new Set(OPTIONS.map((o) => o.key)).size, OPTIONS.length);
  for (const spec of OPTIONS) {
    assert.ok(acceptsText(spec).length > 0);
    if (spec.secret) assert.equal(spec.flag, undefined, `${spec.env}: secrets stay off argv`);
    if (spec.kind === "enum") assert.ok(spec.choices && spec.choices.length > 0);
    if (spec.default === undefined) {
      assert.ok(spec.defaultHelp, `${spec.env} describes its default`);
    }
  }
  // Static defaults go through the same readers as user values: an empty run is clean.
  assert.ok(parseConfig([], {}, LINUX).ok);
  assert.ok(parseConfig([], {}, DARWIN).ok);
});

Deno.test("README's option tables are the table: every option, in order, same words", () => {
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  const section = readme.slice(
    readme.indexOf("## Options and environment"),
    readme.indexOf("\n## ", readme.indexOf("## Options and environment") + 1),
  );
  const rows = section.split("\n")
    .filter((l) => l.startsWith("|") && !/^\|\s*(Flag|-+)\s*\|/.test(l))
    .map((l) => l.slice(1, -1).split(" | ").map((c) => c.trim()));
  const expected = (Object.keys(GROUP_TITLES) as (keyof typeof GROUP_TITLES)[]).flatMap((g) =>
    OPTIONS.filter((o) => o.group === g).map((o) => [
      o.flag ? `\`--${o.flag}\`` : "",
      `\`${o.env}\``,
      defaultText(o),
      o.description + (o.secret ? " Secret: never logged." : ""),
    ])
  );
  assert.deepEqual(rows, expected);
  for (const title of Object.values(GROUP_TITLES)) assert.ok(section.includes(`**${title}**`));
});

// ---------------------------------------------------------------------------------------------
// paths.ts

Deno.test("paths: cache dir, kubeconfig, ~ expansion, generated cert location", () => {
  assert.equal(
    defaultCacheDir("darwin", "/Users/a", { XDG_CACHE_HOME: "/x" }),
    "/Users/a/Library/Caches/com.agoda.fleet.virtualization",
  );
  assert.equal(defaultCacheDir("linux", "/home/a", {}), "/home/a/.cache/macos-vz-kubelet");
  assert.equal(
    defaultCacheDir("freebsd", "/home/a", { XDG_CACHE_HOME: "/c" }),
    "/c/macos-vz-kubelet",
  );
  assert.equal(defaultKubeconfigPath("/home/a"), "/home/a/.kube/config");
  assert.equal(expandHome("~", "/home/a"), "/home/a");
  assert.equal(expandHome("~/x/y", "/home/a"), "/home/a/x/y");
  assert.equal(expandHome("~other/x", "/home/a"), "~other/x");
  assert.equal(expandHome("/abs", "/home/a"), "/abs");
  assert.deepEqual(generatedServingCertPaths("/c"), {
    certPath: "/c/pki/kubelet-serving.crt",
    keyPath: "/c/pki/kubelet-serving.key",
  });
});

Deno.test("qemu network options are validated", () => {
  const r = parseConfig(
    ["--qemu-subnet=10.0.0.0/33", "--qemu-bridge=has space", "--max-vms=0"],
    {},
    LINUX,
  );
  assert.equal(r.ok, false);
  const text = r.ok ? "" : r.errors.join("\n");
  assert.match(text, /--qemu-subnet: "10.0.0.0\/33" is not an IPv4 subnet/);
  assert.match(text, /--qemu-bridge/);
  assert.match(text, /--max-vms/);
});

Deno.test("redactConfig hides credentials inside the OTLP endpoint", () => {
  const r = parseConfig([], {
    OTEL_EXPORTER_OTLP_ENDPOINT: "https://bob:s3cret@otel.example:4318/?token=t0k",
  }, LINUX);
  assert.ok(r.ok);
  const text = JSON.stringify(redactConfig(r.config));
  assert.ok(!text.includes("s3cret") && !text.includes("t0k") && !text.includes("bob"), text);
  assert.match(text, /otel\.example:4318/);
});
