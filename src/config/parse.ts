// Flags + environment -> one validated Config, by the table in options.ts. Pure: the host's
// facts (OS, home, host name, file existence) come in as arguments. Every problem is reported
// in one run, each naming the option, the bad value (never a secret's) and what is accepted.
// Flags win over environment variables, which win over defaults.

import { isIP } from "node:net";
import type { BackendName, Config, LogLevel, TaintEffect } from "./types.ts";
import {
  acceptsText,
  optionByFlag,
  optionByKey,
  type OptionKey,
  OPTIONS,
  type OptionSpec,
} from "./options.ts";
import { defaultCacheDir, defaultKubeconfigPath, expandHome } from "./paths.ts";

export interface HostFacts {
  os: "darwin" | "linux" | string;
  homeDir: string;
  hostname: string;
  /** File-existence check; when absent, paths are not checked. */
  pathExists?: (p: string) => boolean;
}

export type ParseResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/** A raw text value and where it came from (`--flag`, `ENV_NAME` or `default`). */
interface RawValue {
  text: string;
  source: string;
}

interface Ctx {
  flags: Map<OptionKey, RawValue>;
  env: Record<string, string | undefined>;
  host: HostFacts;
  errors: string[];
}

type Converted<T> = { value: T } | { problem: string };

const HELP_ARGS = new Set(["--help", "-h"]);
const BOOL_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  "1": true,
  yes: true,
  false: false,
  "0": false,
  no: false,
};

/** True when the arguments ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (HELP_ARGS.has(arg)) return true;
  }
  return false;
}

/**
 * Builds the Config from the arguments after the subcommand (`serve`), the environment and
 * the host's facts. `--help`/`-h` are accepted and ignored here: see wantsHelp.
 */
export function parseConfig(
  args: string[],
  env: Record<string, string | undefined>,
  host: HostFacts,
): ParseResult {
  const errors: string[] = [];
  const ctx: Ctx = { flags: readFlags(args, errors), env, host, errors };
  const config = buildConfig(ctx);
  checkCombinations(ctx);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config };
}

/**
 * Reads every option. Defaults come from the table (or are computed here); the fallbacks
 * after `??` on options with table defaults only fill in for a value that failed to read, and
 * then an error has been recorded and the Config is discarded.
 */
function buildConfig(ctx: Ctx): Config {
  const apiserverCaPath = readPath(ctx, "apiserverCa");
  const otlpInsecure = readBool(ctx, "otlpInsecure");
  const otlpEndpoint = readString(ctx, "otlpEndpoint");
  return {
    nodeName: readNodeName(ctx),
    providerId: readString(ctx, "providerId"),
    startupTimeoutSeconds: readNumber(ctx, "startupTimeout", toDuration) ?? 0,
    disableTaint: readBool(ctx, "disableTaint"),
    taint: {
      key: readString(ctx, "taintKey") ?? "",
      value: readString(ctx, "taintValue") ?? "",
      effect: (readEnum(ctx, "taintEffect") ?? "NoSchedule") as TaintEffect,
    },
    logLevel: (readEnum(ctx, "logLevel") ?? "info") as LogLevel,
    podSyncWorkers: readNumber(ctx, "podSyncWorkers", toInt) ?? 0,
    fullResyncPeriodSeconds: readNumber(ctx, "fullResyncPeriod", toDuration) ?? 0,
    kubeconfigPath: readPath(ctx, "kubeconfig") ?? defaultKubeconfigPath(ctx.host.homeDir),
    servingCertPath: readPath(ctx, "servingCert"),
    servingKeyPath: readPath(ctx, "servingKey"),
    apiserverCaPath,
    clientVerifyCaPath: readPath(ctx, "clientVerifyCa") ?? apiserverCaPath,
    noVerifyClients: readBool(ctx, "noVerifyClients"),
    authenticationTokenWebhook: readBool(ctx, "authenticationTokenWebhook"),
    connectionTimeouts: {
      tlsHandshakeSeconds: readNumber(ctx, "tlsHandshakeTimeout", toDuration) ?? 10,
      requestHeaderSeconds: readNumber(ctx, "requestHeaderTimeout", toDuration) ?? 10,
      idleSeconds: readNumber(ctx, "idleConnectionTimeout", toDuration) ?? 30,
    },
    authenticationTokenWebhookCacheTtlSeconds:
      readNumber(ctx, "authenticationTokenWebhookCacheTtl", toDuration) ?? 0,
    authorizationWebhookCacheAuthorizedTtlSeconds:
      readNumber(ctx, "authorizationWebhookCacheAuthorizedTtl", toDuration) ?? 0,
    authorizationWebhookCacheUnauthorizedTtlSeconds:
      readNumber(ctx, "authorizationWebhookCacheUnauthorizedTtl", toDuration) ?? 0,
    kubeletPort: readNumber(ctx, "kubeletPort", toInt) ?? 0,
    traceSampleRate: readNumber(ctx, "traceSampleRate", toSampleRatio),
    otlpEndpoint: otlpEndpoint === undefined
      ? undefined
      : withDefaultScheme(otlpEndpoint, otlpInsecure),
    otlpInsecure,
    otelServiceName: readString(ctx, "otelServiceName"),
    podIp: readString(ctx, "podIp"),
    bridgeInterface: readString(ctx, "bridgeInterface"),
    ssh: {
      user: readString(ctx, "sshUser"),
      password: readString(ctx, "sshPassword"),
      privateKeyPath: readPath(ctx, "sshPrivateKeyPath"),
      privateKey: readString(ctx, "sshPrivateKeyBase64"),
      privateKeyPassphrase: readString(ctx, "sshPrivateKeyPassphrase"),
    },
    dockerHost: readString(ctx, "dockerHost") ?? "",
    dockerNetwork: readString(ctx, "dockerNetwork") ?? "bridge",
    apiProxyPort: readNumber(ctx, "apiProxyPort", toInt) ?? 443,
    cacheDir: readPath(ctx, "cacheDir") ??
      defaultCacheDir(ctx.host.os, ctx.host.homeDir, ctx.env),
    backend: readBackend(ctx),
    maxVms: readNumber(ctx, "maxVms", toInt) ?? 2,
    sshReadinessTimeoutSeconds: readNumber(ctx, "sshReadinessTimeout", toDuration) ?? 600,
    qemu: {
      bridge: readString(ctx, "qemuBridge") ?? "vzk0",
      subnet: readString(ctx, "qemuSubnet") ?? "10.251.0.0/24",
      nat: readBool(ctx, "qemuNat"),
    },
    insecureRegistries: (readString(ctx, "insecureRegistries") ?? "").split(",")
      .map((r) => r.trim()).filter((r) => r),
    registryCaPath: readPath(ctx, "registryCa"),
    allowImageCopy: readBool(ctx, "allowImageCopy"),
    vz: { machineId: (readEnum(ctx, "vzMachineId") ?? "new") as "new" | "image" },
    imageGc: {
      unusedForSeconds: readNumber(ctx, "imageGcUnusedFor", toDuration) ?? 7 * 24 * 3600,
      minFreePercent: readNumber(ctx, "imageGcMinFree", toInt) ?? 15,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Command line

/** Splits `--name=value`, `--name value` and bare boolean flags; reports unknown ones. */
function readFlags(args: string[], errors: string[]): Map<OptionKey, RawValue> {
  const values = new Map<OptionKey, RawValue>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (HELP_ARGS.has(arg)) continue;
    if (arg === "--") {
      for (const rest of args.slice(i + 1)) errors.push(unexpectedArgument(rest));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      errors.push(unexpectedArgument(arg));
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const spec = name.startsWith("--") ? optionByFlag(name.slice(2)) : undefined;
    const next = args[i + 1];
    if (!spec) {
      errors.push(unknownOption(name));
      // `--unknown value`: skip the value too, rather than report it (it might be a secret).
      if (inline === undefined && next !== undefined && !next.startsWith("-")) i++;
      continue;
    }
    if (inline !== undefined) {
      values.set(spec.key, { text: inline, source: name });
    } else if (spec.kind === "bool") {
      // `--flag true` as well as `--flag=true`: the Go original's launchd plist passes
      // `--authentication-token-webhook true` as two arguments.
      const takesNext = next !== undefined && next.toLowerCase() in BOOL_WORDS;
      values.set(spec.key, { text: takesNext ? next : "true", source: name });
      if (takesNext) i++;
    } else if (next !== undefined && !next.startsWith("--")) {
      values.set(spec.key, { text: next, source: name });
      i++;
    } else {
      errors.push(`${name}: needs a value; give ${name}=${spec.valueName}`);
    }
  }
  return values;
}

function unexpectedArgument(arg: string): string {
  return `unexpected argument ${JSON.stringify(arg)}: options take the form --name=value; ` +
    "see --help";
}

function unknownOption(name: string): string {
  const bare = name.replace(/^-+/, "");
  const envOnly = OPTIONS.find((o) => !o.flag && dashed(o.env) === bare.toLowerCase());
  if (envOnly) {
    return `unknown option ${name}: ${envOnly.env} is set through the environment only; ` +
      "see --help";
  }
  const close = closestFlag(bare);
  const hint = close ? ` (did you mean --${close}?)` : "";
  if (!name.startsWith("--")) {
    return `unknown option ${name}: options start with two dashes${hint}; see --help`;
  }
  return `unknown option ${name}${hint}; see --help`;
}

function dashed(envName: string): string {
  return envName.toLowerCase().replaceAll("_", "-");
}

function closestFlag(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const spec of OPTIONS) {
    if (!spec.flag) continue;
    const d = editDistance(name.toLowerCase(), spec.flag);
    if (d < bestDistance) [best, bestDistance] = [spec.flag, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next.push(Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + cost));
    }
    row = next;
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------------------------
// Reading one option: flag, then environment, then the table's default

/** The user's value for an option, if any. An empty environment variable counts as unset. */
function given(ctx: Ctx, spec: OptionSpec): RawValue | undefined {
  const fromFlag = ctx.flags.get(spec.key);
  if (fromFlag) return fromFlag;
  const fromEnv = ctx.env[spec.env];
  if (fromEnv !== undefined && fromEnv !== "") return { text: fromEnv, source: spec.env };
  return undefined;
}

/** Reads an option through `convert`; reports a problem and yields undefined if it fails. */
function read<T>(
  ctx: Ctx,
  key: OptionKey,
  convert: (text: string, spec: OptionSpec, ctx: Ctx) => Converted<T>,
): T | undefined {
  const spec = optionByKey(key);
  const raw = given(ctx, spec) ??
    (spec.default !== undefined
      ? { text: spec.default, source: `default of ${spec.env}` }
      : undefined);
  if (!raw) return undefined;
  const result = convert(raw.text, spec, ctx);
  if ("value" in result) return result.value;
  ctx.errors.push(problemText(raw, spec, result.problem));
  return undefined;
}

function problemText(raw: RawValue, spec: OptionSpec, problem: string): string {
  const shown = spec.secret ? "the value given (hidden)" : JSON.stringify(raw.text);
  return `${raw.source}: ${shown} ${problem}; give ${acceptsText(spec)}`;
}

function readString(ctx: Ctx, key: OptionKey): string | undefined {
  return read(ctx, key, toFormatted);
}

function readPath(ctx: Ctx, key: OptionKey): string | undefined {
  return read(ctx, key, toPath);
}

function readBool(ctx: Ctx, key: OptionKey): boolean {
  return read(ctx, key, toBool) ?? false;
}

function readEnum(ctx: Ctx, key: OptionKey): string | undefined {
  return read(ctx, key, toEnum);
}

function readNumber(
  ctx: Ctx,
  key: OptionKey,
  convert: (text: string, spec: OptionSpec) => Converted<number>,
): number | undefined {
  return read(ctx, key, convert);
}

/** --nodename, or the host name lowercased (as kubelets do). */
function readNodeName(ctx: Ctx): string {
  const spec = optionByKey("nodeName");
  if (given(ctx, spec)) return readString(ctx, "nodeName") ?? "";
  const name = ctx.host.hostname.toLowerCase();
  if (!isDnsSubdomain(name)) {
    ctx.errors.push(
      `--nodename / ${spec.env}: not given, and this host's name ` +
        `${JSON.stringify(ctx.host.hostname)} is not a valid node name; give --nodename=NAME ` +
        `with ${acceptsText(spec)}`,
    );
  }
  return name;
}

/** --backend, defaulting by OS; vz exists only on macOS. */
function readBackend(ctx: Ctx): BackendName {
  const spec = optionByKey("backend");
  const fallback: BackendName = ctx.host.os === "darwin" ? "vz" : "qemu";
  const raw = given(ctx, spec);
  const backend = (readEnum(ctx, "backend") ?? fallback) as BackendName;
  if (raw && backend === "vz" && ctx.host.os !== "darwin") {
    ctx.errors.push(
      `${raw.source}: "vz" needs macOS (Apple's Virtualization framework) and this host runs ` +
        `${ctx.host.os}; give --backend=qemu, or leave it unset to get qemu`,
    );
  }
  return backend;
}

// ---------------------------------------------------------------------------------------------
// Converters by kind

function toInt(text: string, spec: OptionSpec): Converted<number> {
  const t = text.trim();
  if (!/^\+?\d+$/.test(t)) return { problem: "is not a whole number" };
  return inRange(Number(t), spec);
}

function inRange(n: number, spec: OptionSpec): Converted<number> {
  const low = spec.min !== undefined && n < spec.min;
  const high = spec.max !== undefined && n > spec.max;
  if (!Number.isSafeInteger(n) || low || high) return { problem: "is out of range" };
  return { value: n };
}

function toDuration(text: string, spec: OptionSpec): Converted<number> {
  const t = text.trim();
  if (/^\+?\d+$/.test(t)) return inRange(Number(t), spec);
  const seconds = parseDurationSeconds(t);
  if (seconds === undefined) return { problem: "is neither a number of seconds nor a duration" };
  if (seconds < 0) return { problem: "is negative" };
  const whole = Math.round(seconds);
  if (Math.abs(seconds - whole) > 1e-6) return { problem: "is not a whole number of seconds" };
  return inRange(whole, spec);
}

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  "µs": 1e-6,
  "μs": 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};
const DURATION_PART = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
const DURATION = /^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;

/** A Go duration (`1h30m`, `2.5s`, `-5m`) in seconds; undefined if it is not one. */
export function parseDurationSeconds(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const part of text.matchAll(DURATION_PART)) {
    total += parseFloat(part[1]) * UNIT_SECONDS[part[2]];
  }
  return text.startsWith("-") ? -total : total;
}

function toBool(text: string): Converted<boolean> {
  const value = BOOL_WORDS[text.trim().toLowerCase()];
  return value === undefined ? { problem: "is not a boolean" } : { value };
}

function toEnum(text: string, spec: OptionSpec): Converted<string> {
  const t = text.trim().toLowerCase();
  const choice = (spec.choices ?? []).find((c) => c.toLowerCase() === t);
  const alias = spec.aliases?.[t];
  const value = choice ?? alias;
  return value === undefined ? { problem: "is not a known value" } : { value };
}

/** `always` -> 1, `never` -> 0, `25` or `25%` -> 0.25. */
function toSampleRatio(text: string): Converted<number> {
  const t = text.trim().toLowerCase();
  if (t === "always") return { value: 1 };
  if (t === "never") return { value: 0 };
  const m = /^(\d+\.?\d*|\.\d+)\s*%?$/.exec(t);
  if (!m) return { problem: "is not a sampling rate" };
  const percent = parseFloat(m[1]);
  if (percent > 100) return { problem: "is above 100%" };
  return { value: percent / 100 };
}

function toPath(text: string, spec: OptionSpec, ctx: Ctx): Converted<string> {
  if (text.trim() === "") return { problem: "is empty" };
  const { homeDir, pathExists } = ctx.host;
  if (spec.key === "kubeconfig") return toKubeconfigPath(text, homeDir, pathExists);
  const path = expandHome(text, homeDir);
  if (spec.mustExist && pathExists && !pathExists(path)) return { problem: "does not exist" };
  return { value: path };
}

/** KUBECONFIG may list files (`a:b`) like kubectl's; the first one is the one used. */
function toKubeconfigPath(
  text: string,
  homeDir: string,
  pathExists?: (p: string) => boolean,
): Converted<string> {
  const paths = text.split(":").filter((p) => p !== "").map((p) => expandHome(p, homeDir));
  if (paths.length === 0) return { problem: "names no file" };
  if (pathExists && !pathExists(paths[0])) {
    return {
      problem: paths.length > 1 ? "starts with a file that does not exist" : "does not exist",
    };
  }
  return { value: paths.join(":") };
}

// ---------------------------------------------------------------------------------------------
// Formats of string values

function toFormatted(text: string, spec: OptionSpec): Converted<string> {
  if (text === "") return { problem: "is empty" };
  switch (spec.format) {
    case undefined:
      return { value: text };
    case "dns-subdomain":
      return check(text, isDnsSubdomain(text), "is not a valid DNS-1123 subdomain");
    case "qualified-name":
      return check(text, isQualifiedName(text), "is not a valid qualified name");
    case "label-value":
      return check(text, isLabelValue(text), "is not a valid label value");
    case "ip":
      return check(text, isIP(text) !== 0, "is not an IP address");
    case "otlp-endpoint":
      return check(text, isHttpUrl(withDefaultScheme(text, true)), "is not an http(s) URL");
    case "docker-host":
      return check(text, isDockerHost(text), "is not a Docker daemon address");
    case "interface-name":
      return check(text, /^[^\s/]{1,15}$/.test(text), "is not a network interface name");
    case "no-spaces":
      return check(text, !/\s/.test(text), "contains spaces");
    case "pem-base64":
      return decodePemBase64(text);
    case "ipv4-cidr":
      return check(
        text,
        isIpv4Cidr(text),
        "is not an IPv4 subnet",
      );
  }
}

function check(text: string, ok: boolean, problem: string): Converted<string> {
  return ok ? { value: text } : { problem };
}

const DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function isDnsSubdomain(text: string): boolean {
  return text.length <= 253 && DNS_SUBDOMAIN.test(text);
}

/** Kubernetes qualified name: `[prefix/]name`, as label and taint keys. */
export function isQualifiedName(text: string): boolean {
  const parts = text.split("/");
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1];
  const prefixOk = parts.length === 1 || (parts[0] !== "" && isDnsSubdomain(parts[0]));
  return prefixOk && name.length <= 63 && NAME_PART.test(name);
}

export function isLabelValue(text: string): boolean {
  return text === "" || (text.length <= 63 && NAME_PART.test(text));
}

function isHttpUrl(text: string): boolean {
  const url = URL.parse(text);
  return url !== null && (url.protocol === "http:" || url.protocol === "https:") &&
    url.hostname !== "";
}

/** `host:port` -> `https://host:port` (or `http://` when insecure); URLs pass unchanged. */
function withDefaultScheme(endpoint: string, insecure: boolean): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) return endpoint;
  return (insecure ? "http://" : "https://") + endpoint;
}

function isDockerHost(text: string): boolean {
  if (text.startsWith("unix://")) return text.length > "unix:///".length && text[7] === "/";
  const url = URL.parse(text);
  const schemes = ["tcp:", "http:", "https:"];
  return url !== null && schemes.includes(url.protocol) && url.hostname !== "";
}

const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----/;

/** VZ_SSH_PRIVATE_KEY_BASE64 -> the PEM text; problems never quote the value. */
function decodePemBase64(text: string): Converted<string> {
  const compact = text.replace(/\s+/g, "").replaceAll("-", "+").replaceAll("_", "/");
  let decoded: string;
  try {
    decoded = atob(compact);
  } catch {
    return { problem: "is not valid base64" };
  }
  if (!PEM_PRIVATE_KEY.test(decoded)) return { problem: "does not decode to a PEM private key" };
  return { value: decoded };
}

// ---------------------------------------------------------------------------------------------
// Options that only make sense together

function checkCombinations(ctx: Ctx): void {
  const has = (key: OptionKey) => given(ctx, optionByKey(key)) !== undefined;
  if (has("servingCert") !== has("servingKey")) {
    ctx.errors.push(
      "APISERVER_CERT_LOCATION and APISERVER_KEY_LOCATION go together: give both (the " +
        "kubelet's serving certificate and its key) or neither (a self-signed certificate " +
        "is then generated)",
    );
  }
  if (has("sshPrivateKeyPath") && has("sshPrivateKeyBase64")) {
    ctx.errors.push(
      "VZ_SSH_PRIVATE_KEY_PATH and VZ_SSH_PRIVATE_KEY_BASE64 are both set: give one of them",
    );
  }
  const hasKey = has("sshPrivateKeyPath") || has("sshPrivateKeyBase64");
  if (has("sshPrivateKeyPassphrase") && !hasKey) {
    ctx.errors.push(
      "VZ_SSH_PRIVATE_KEY_PASSPHRASE is set but there is no private key to use it with; " +
        "give VZ_SSH_PRIVATE_KEY_PATH or VZ_SSH_PRIVATE_KEY_BASE64",
    );
  }
  if ((has("sshPassword") || hasKey) && !has("sshUser")) {
    ctx.errors.push(
      "VZ_SSH_USER is not set, but SSH credentials for guests are (VZ_SSH_PASSWORD or a " +
        "private key); give the guests' SSH user name",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Logging the configuration

const REDACTED = "[redacted]";

/** The Config as flat log fields, with every secret replaced by "[redacted]" or "unset". */
export function redactConfig(c: Config): Record<string, unknown> {
  const secret = (v: string | undefined) => v === undefined ? "unset" : REDACTED;
  const { ssh, taint, ...rest } = c;
  return {
    ...rest,
    taint: c.disableTaint ? "disabled" : `${taint.key}=${taint.value}:${taint.effect}`,
    "ssh.user": ssh.user,
    "ssh.password": secret(ssh.password),
    "ssh.privateKeyPath": ssh.privateKeyPath,
    "ssh.privateKey": secret(ssh.privateKey),
    "ssh.privateKeyPassphrase": secret(ssh.privateKeyPassphrase),
    otlpEndpoint: c.otlpEndpoint === undefined ? undefined : withoutUserInfo(c.otlpEndpoint),
  };
}

/** A URL without user:password@ and query, which may carry credentials. */
function withoutUserInfo(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) u.username = u.password = "";
    u.search = "";
    return u.toString();
  } catch {
    return REDACTED;
  }
}

function isIpv4Cidr(text: string): boolean {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(text);
  return !!m && isIP(m[1]) === 4 && Number(m[2]) >= 8 && Number(m[2]) <= 29;
}
