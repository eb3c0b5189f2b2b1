// The one table of every setting the agent reads from its command line and environment:
// flag, environment variable, kind of value, default, description and secrecy. parse.ts reads
// values by it and help.ts prints it, so the two cannot drift apart.

/** How a raw text value is read. */
export type OptionKind =
  | "string"
  | "int"
  | "bool"
  | "enum"
  | "path"
  /** Whole seconds: a bare integer (`120`) or a Go duration (`2m`, `1h30m`). */
  | "duration"
  /** Trace sampling: `always`, `never`, or a percentage 0..100 (`25` or `25%`). */
  | "percent";

/** Extra checks for string values, beyond being non-empty. */
export type OptionFormat =
  | "dns-subdomain"
  | "qualified-name"
  | "label-value"
  | "ip"
  | "otlp-endpoint"
  | "docker-host"
  | "interface-name"
  | "no-spaces"
  | "pem-base64"
  | "ipv4-cidr";

export type OptionGroup = "node" | "sync" | "cluster" | "serving" | "guests" | "telemetry";

/** Stable identifiers of the options; parse.ts maps them onto Config fields. */
export type OptionKey =
  | "nodeName"
  | "providerId"
  | "startupTimeout"
  | "disableTaint"
  | "taintKey"
  | "taintValue"
  | "taintEffect"
  | "podIp"
  | "kubeletPort"
  | "podSyncWorkers"
  | "fullResyncPeriod"
  | "kubeconfig"
  | "apiserverCa"
  | "servingCert"
  | "servingKey"
  | "clientVerifyCa"
  | "noVerifyClients"
  | "authenticationTokenWebhook"
  | "authenticationTokenWebhookCacheTtl"
  | "authorizationWebhookCacheAuthorizedTtl"
  | "authorizationWebhookCacheUnauthorizedTtl"
  | "tlsHandshakeTimeout"
  | "requestHeaderTimeout"
  | "idleConnectionTimeout"
  | "backend"
  | "cacheDir"
  | "bridgeInterface"
  | "dockerHost"
  | "dockerNetwork"
  | "apiProxyPort"
  | "sshUser"
  | "sshPassword"
  | "sshPrivateKeyPath"
  | "sshPrivateKeyBase64"
  | "sshPrivateKeyPassphrase"
  | "logLevel"
  | "traceSampleRate"
  | "otlpEndpoint"
  | "otlpInsecure"
  | "otelServiceName"
  | "maxVms"
  | "sshReadinessTimeout"
  | "qemuBridge"
  | "qemuSubnet"
  | "qemuNat"
  | "insecureRegistries"
  | "registryCa"
  | "allowImageCopy"
  | "vzMachineId"
  | "imageGcUnusedFor"
  | "imageGcMinFree";

export interface OptionSpec {
  key: OptionKey;
  /** Long flag name without the leading `--`; absent for environment-only settings. */
  flag?: string;
  /** Environment variable; for a flag it is `VZK_` + the flag in upper snake case. */
  env: string;
  kind: OptionKind;
  group: OptionGroup;
  /** Placeholder for the value in help (`--pod-sync-workers=N`). */
  valueName: string;
  description: string;
  /** Default as raw text, read exactly like a user's value. Absent: no value, or computed. */
  default?: string;
  /** How help describes the default when it is computed or absent. */
  defaultHelp?: string;
  /** Accepted values of an enum, canonical spelling. Matching ignores case. */
  choices?: readonly string[];
  /** Other spellings of enum values, mapped to their canonical value. */
  aliases?: Readonly<Record<string, string>>;
  /** Inclusive bounds of int and duration values. */
  min?: number;
  max?: number;
  format?: OptionFormat;
  /** A path the user gives must name an existing file (checked through host.pathExists). */
  mustExist?: boolean;
  /** Never printed: not in errors, not in logs. */
  secret?: boolean;
}

export const GROUP_TITLES: Readonly<Record<OptionGroup, string>> = {
  node: "Node",
  sync: "Pod synchronisation",
  cluster: "Cluster access",
  serving: "Kubelet API (HTTPS on KUBELET_PORT): certificates and authentication",
  guests: "Guests, images and sidecars",
  telemetry: "Logging and tracing",
};

export const OPTIONS: readonly OptionSpec[] = [
  // --- node ---
  {
    key: "nodeName",
    flag: "nodename",
    env: "VZK_NODENAME",
    kind: "string",
    format: "dns-subdomain",
    group: "node",
    valueName: "NAME",
    description: "The node's name as it appears in the cluster.",
    defaultHelp: "this host's name, lowercased",
  },
  {
    key: "providerId",
    flag: "provider-id",
    env: "VZK_PROVIDER_ID",
    kind: "string",
    format: "no-spaces",
    group: "node",
    valueName: "ID",
    description: "spec.providerID of the node object, e.g. provider://<uuid>.",
    defaultHelp: "not set",
  },
  {
    key: "startupTimeout",
    flag: "startup-timeout",
    env: "VZK_STARTUP_TIMEOUT",
    kind: "duration",
    min: 0,
    group: "node",
    valueName: "SECONDS",
    description: "How long to wait for the node to become ready at start-up; 0 waits forever.",
    default: "0",
  },
  {
    key: "disableTaint",
    flag: "disable-taint",
    env: "VZK_DISABLE_TAINT",
    kind: "bool",
    group: "node",
    valueName: "BOOL",
    description: "Do not put the taint below on the node.",
    default: "false",
  },
  {
    key: "taintKey",
    env: "VKUBELET_TAINT_KEY",
    kind: "string",
    format: "qualified-name",
    group: "node",
    valueName: "KEY",
    description: "Key of the taint put on the node (pods need a matching toleration).",
    default: "virtual-kubelet.io/provider",
  },
  {
    key: "taintValue",
    env: "VKUBELET_TAINT_VALUE",
    kind: "string",
    format: "label-value",
    group: "node",
    valueName: "VALUE",
    description: "Value of the node's taint.",
    default: "macos-vz",
  },
  {
    key: "taintEffect",
    env: "VKUBELET_TAINT_EFFECT",
    kind: "enum",
    choices: ["NoSchedule", "PreferNoSchedule", "NoExecute"],
    group: "node",
    valueName: "EFFECT",
    description: "Effect of the node's taint.",
    default: "NoSchedule",
  },
  {
    key: "podIp",
    env: "VKUBELET_POD_IP",
    kind: "string",
    format: "ip",
    group: "node",
    valueName: "IP",
    description: "Address reported as the node's InternalIP (the API server dials it).",
    defaultHelp: "the host's first non-internal IPv4 address",
  },
  {
    key: "kubeletPort",
    env: "KUBELET_PORT",
    kind: "int",
    min: 1,
    max: 65535,
    group: "node",
    valueName: "PORT",
    description: "TCP port of the kubelet HTTPS API (logs, exec, attach, port-forward).",
    default: "10250",
  },
  // --- pod synchronisation ---
  {
    key: "podSyncWorkers",
    flag: "pod-sync-workers",
    env: "VZK_POD_SYNC_WORKERS",
    kind: "int",
    min: 1,
    group: "sync",
    valueName: "N",
    description: "Number of workers syncing pods concurrently.",
    default: "10",
  },
  {
    key: "fullResyncPeriod",
    flag: "full-resync-period",
    env: "VZK_FULL_RESYNC_PERIOD",
    kind: "duration",
    min: 1,
    group: "sync",
    valueName: "SECONDS",
    description: "Time between full resyncs of every pod on the node.",
    default: "60",
  },
  // --- cluster access ---
  {
    key: "kubeconfig",
    env: "KUBECONFIG",
    kind: "path",
    mustExist: true,
    group: "cluster",
    valueName: "PATH",
    description: "Kubeconfig file used to reach the API server.",
    defaultHelp: "~/.kube/config",
  },
  {
    key: "apiserverCa",
    env: "APISERVER_CA_CERT_LOCATION",
    kind: "path",
    mustExist: true,
    group: "cluster",
    valueName: "PATH",
    description: "CA certificate (PEM) that verifies the API server's serving certificate; " +
      "also the default of --client-verify-ca.",
    defaultHelp: "not set (the kubeconfig's CA)",
  },
  // --- kubelet API ---
  {
    key: "servingCert",
    env: "APISERVER_CERT_LOCATION",
    kind: "path",
    mustExist: true,
    group: "serving",
    valueName: "PATH",
    description: "Serving certificate (PEM) of the kubelet API; give it together with " +
      "APISERVER_KEY_LOCATION.",
    defaultHelp: "a self-signed certificate generated under the cache directory",
  },
  {
    key: "servingKey",
    env: "APISERVER_KEY_LOCATION",
    kind: "path",
    mustExist: true,
    group: "serving",
    valueName: "PATH",
    description: "Private key (PEM) of the serving certificate.",
    defaultHelp: "generated with the certificate",
  },
  {
    key: "clientVerifyCa",
    flag: "client-verify-ca",
    env: "VZK_CLIENT_VERIFY_CA",
    kind: "path",
    mustExist: true,
    group: "serving",
    valueName: "PATH",
    description: "CA certificate (PEM) that verifies client certificates of callers of the " +
      "kubelet API (the API server's kubelet-client certificate).",
    defaultHelp: "the value of APISERVER_CA_CERT_LOCATION",
  },
  {
    key: "noVerifyClients",
    flag: "no-verify-clients",
    env: "VZK_NO_VERIFY_CLIENTS",
    kind: "bool",
    group: "serving",
    valueName: "BOOL",
    description: "Do not ask callers of the kubelet API for client certificates.",
    default: "false",
  },
  {
    key: "authenticationTokenWebhook",
    flag: "authentication-token-webhook",
    env: "VZK_AUTHENTICATION_TOKEN_WEBHOOK",
    kind: "bool",
    group: "serving",
    valueName: "BOOL",
    description: "Check bearer tokens with the TokenReview API and authorise requests with " +
      "SubjectAccessReview.",
    default: "false",
  },
  {
    key: "authenticationTokenWebhookCacheTtl",
    flag: "authentication-token-webhook-cache-ttl",
    env: "VZK_AUTHENTICATION_TOKEN_WEBHOOK_CACHE_TTL",
    kind: "duration",
    min: 0,
    group: "serving",
    valueName: "SECONDS",
    description: "How long to cache TokenReview answers; 0 keeps the built-in default.",
    default: "0",
  },
  {
    key: "authorizationWebhookCacheAuthorizedTtl",
    flag: "authorization-webhook-cache-authorized-ttl",
    env: "VZK_AUTHORIZATION_WEBHOOK_CACHE_AUTHORIZED_TTL",
    kind: "duration",
    min: 0,
    group: "serving",
    valueName: "SECONDS",
    description: "How long to cache 'allowed' SubjectAccessReview answers; 0 keeps the " +
      "built-in default.",
    default: "0",
  },
  {
    key: "authorizationWebhookCacheUnauthorizedTtl",
    flag: "authorization-webhook-cache-unauthorized-ttl",
    env: "VZK_AUTHORIZATION_WEBHOOK_CACHE_UNAUTHORIZED_TTL",
    kind: "duration",
    min: 0,
    group: "serving",
    valueName: "SECONDS",
    description: "How long to cache 'denied' SubjectAccessReview answers; 0 keeps the " +
      "built-in default.",
    default: "0",
  },
  {
    key: "tlsHandshakeTimeout",
    flag: "tls-handshake-timeout",
    env: "VZK_TLS_HANDSHAKE_TIMEOUT",
    kind: "duration",
    min: 1,
    group: "serving",
    valueName: "SECONDS",
    description: "A connection that has not finished its TLS handshake by then is closed.",
    default: "10",
  },
  {
    key: "requestHeaderTimeout",
    flag: "request-header-timeout",
    env: "VZK_REQUEST_HEADER_TIMEOUT",
    kind: "duration",
    min: 1,
    group: "serving",
    valueName: "SECONDS",
    description: "A connection that has not sent a whole request header by then, counted from " +
      "its handshake, is closed (slow clients cannot hold connections open).",
    default: "10",
  },
  {
    key: "idleConnectionTimeout",
    flag: "idle-connection-timeout",
    env: "VZK_IDLE_CONNECTION_TIMEOUT",
    kind: "duration",
    min: 1,
    group: "serving",
    valueName: "SECONDS",
    description: "A kept-alive connection with no request for this long is closed (streams " +
      "have their own idle timeout of 4 h).",
    default: "30",
  },
  // --- guests ---
  {
    key: "backend",
    flag: "backend",
    env: "VZK_BACKEND",
    kind: "enum",
    choices: ["vz", "qemu"],
    group: "guests",
    valueName: "NAME",
    description: "Virtual machine backend: vz (Apple Virtualization framework, macOS only) " +
      "or qemu (Linux guests).",
    defaultHelp: "vz on macOS, qemu elsewhere",
  },
  {
    key: "maxVms",
    flag: "max-vms",
    env: "VZK_MAX_VMS",
    kind: "int",
    min: 1,
    max: 64,
    group: "guests",
    valueName: "N",
    description:
      "VM slots: how many VM pods run at once (macOS allows 2); the node's pod capacity.",
    default: "2",
  },
  {
    key: "sshReadinessTimeout",
    flag: "ssh-readiness-timeout",
    env: "VZK_SSH_READINESS_TIMEOUT",
    kind: "duration",
    min: 1,
    group: "guests",
    valueName: "SECONDS",
    description: "How long a started guest may take to answer SSH before its pod fails.",
    default: "600",
  },
  {
    key: "qemuBridge",
    flag: "qemu-bridge",
    env: "VZK_QEMU_BRIDGE",
    kind: "string",
    format: "interface-name",
    group: "guests",
    valueName: "NAME",
    description: "qemu backend: the Linux bridge the agent creates and owns for its guests' taps.",
    default: "vzk0",
  },
  {
    key: "qemuSubnet",
    flag: "qemu-subnet",
    env: "VZK_QEMU_SUBNET",
    kind: "string",
    format: "ipv4-cidr",
    group: "guests",
    valueName: "CIDR",
    description: "qemu backend: IPv4 subnet of the bridge; the bridge takes the first address, " +
      "guests get the rest by DHCP.",
    default: "10.251.0.0/24",
  },
  {
    key: "qemuNat",
    flag: "qemu-nat",
    env: "VZK_QEMU_NAT",
    kind: "bool",
    group: "guests",
    valueName: "BOOL",
    description: "qemu backend: masquerade guest traffic to the host's uplink (needs iptables).",
    default: "true",
  },
  {
    key: "insecureRegistries",
    flag: "insecure-registries",
    env: "VZK_INSECURE_REGISTRIES",
    kind: "string",
    format: "no-spaces",
    group: "guests",
    valueName: "HOST[:PORT],...",
    description: "Registries reached over plain HTTP although not on loopback (comma-separated).",
    defaultHelp: "none (loopback registries always may use plain HTTP)",
  },
  {
    key: "registryCa",
    flag: "registry-ca",
    env: "VZK_REGISTRY_CA",
    kind: "path",
    mustExist: true,
    group: "guests",
    valueName: "PATH",
    description: "CA certificates (PEM) trusted for registries' TLS certificates, besides the " +
      "default trust store: for registries with a private CA.",
    defaultHelp: "not set (the default trust store only)",
  },
  {
    key: "allowImageCopy",
    flag: "allow-image-copy",
    env: "VZK_ALLOW_IMAGE_COPY",
    kind: "bool",
    group: "guests",
    valueName: "BOOL",
    description: "vz backend: when the cache directory's file system cannot clone files " +
      "copy-on-write (clonefile needs APFS), give each pod a full copy of its image's disk and " +
      "auxiliary storage instead of failing the pod. The qemu backend layers qcow2 overlays " +
      "over the image and never copies.",
    default: "false",
  },
  {
    key: "vzMachineId",
    flag: "vz-machine-id",
    env: "VZK_VZ_MACHINE_ID",
    kind: "enum",
    choices: ["new", "image"],
    group: "guests",
    valueName: "new|image",
    description: "vz backend: the machine identifier each macOS VM runs with: new (a fresh one " +
      "per VM, so VMs made from one image never share one) or image (the image's own, e.g. for " +
      "software licensed to it; then only one VM of that image runs at a time).",
    default: "new",
  },
  {
    key: "imageGcUnusedFor",
    flag: "image-gc-unused-for",
    env: "VZK_IMAGE_GC_UNUSED_FOR",
    kind: "duration",
    min: 0,
    group: "guests",
    valueName: "DURATION",
    description: "Cached VM images no pod used for this long are removed; 0 keeps them until " +
      "disk space runs low.",
    default: "168h",
  },
  {
    key: "imageGcMinFree",
    flag: "image-gc-min-free",
    env: "VZK_IMAGE_GC_MIN_FREE",
    kind: "int",
    min: 0,
    max: 90,
    group: "guests",
    valueName: "PERCENT",
    description: "When less than this share of the cache's file system is free, unused images " +
      "are removed (oldest use first).",
    default: "15",
  },
  {
    key: "cacheDir",
    flag: "cache-dir",
    env: "VZK_CACHE_DIR",
    kind: "path",
    group: "guests",
    valueName: "DIR",
    description: "Directory for VM images, disk clones, volumes and the generated serving " +
      "certificate.",
    defaultHelp: "~/Library/Caches/com.agoda.fleet.virtualization on macOS, " +
      "$XDG_CACHE_HOME/macos-vz-kubelet or ~/.cache/macos-vz-kubelet elsewhere",
  },
  {
    key: "bridgeInterface",
    env: "VZ_BRIDGE_INTERFACE",
    kind: "string",
    format: "interface-name",
    group: "guests",
    valueName: "IFACE",
    description: "Host network interface to bridge guests onto (macOS: needs the " +
      "com.apple.vm.networking entitlement).",
    defaultHelp: "not set (NAT networking)",
  },
  {
    key: "dockerHost",
    env: "DOCKER_HOST",
    kind: "string",
    format: "docker-host",
    group: "guests",
    valueName: "URL",
    description: "Docker daemon that runs the pods' sidecar containers.",
    default: "unix:///var/run/docker.sock",
  },
  {
    key: "dockerNetwork",
    flag: "docker-network",
    env: "VZK_DOCKER_NETWORK",
    kind: "string",
    format: "no-spaces",
    group: "guests",
    valueName: "NAME",
    description: "Docker network the pods' sidecar and init containers join; it must route to " +
      "the VMs' addresses (Docker's default bridge does on a Mac and with IP forwarding on Linux).",
    default: "bridge",
  },
  {
    key: "apiProxyPort",
    flag: "api-proxy-port",
    env: "VZK_API_PROXY_PORT",
    kind: "int",
    min: 1,
    max: 65535,
    group: "guests",
    valueName: "PORT",
    description: "Port on the host's address (as VMs and Docker networks see it) where pods " +
      "reach the API server as kubernetes.default.svc (KUBERNETES_SERVICE_PORT).",
    default: "443",
  },
  {
    key: "sshUser",
    env: "VZ_SSH_USER",
    kind: "string",
    format: "no-spaces",
    group: "guests",
    valueName: "USER",
    description: "User for SSH into guests (exec, readiness, shutdown).",
    defaultHelp: "not set",
  },
  {
    key: "sshPassword",
    env: "VZ_SSH_PASSWORD",
    kind: "string",
    secret: true,
    group: "guests",
    valueName: "PASSWORD",
    description: "Password for SSH into guests.",
    defaultHelp: "not set",
  },
  {
    key: "sshPrivateKeyPath",
    env: "VZ_SSH_PRIVATE_KEY_PATH",
    kind: "path",
    mustExist: true,
    group: "guests",
    valueName: "PATH",
    description: "Private key file (PEM or OpenSSH) for SSH into guests; instead of, or as " +
      "well as, the password.",
    defaultHelp: "not set",
  },
  {
    key: "sshPrivateKeyBase64",
    env: "VZ_SSH_PRIVATE_KEY_BASE64",
    kind: "string",
    format: "pem-base64",
    secret: true,
    group: "guests",
    valueName: "BASE64",
    description: "The private key itself, base64-encoded; instead of VZ_SSH_PRIVATE_KEY_PATH.",
    defaultHelp: "not set",
  },
  {
    key: "sshPrivateKeyPassphrase",
    env: "VZ_SSH_PRIVATE_KEY_PASSPHRASE",
    kind: "string",
    secret: true,
    group: "guests",
    valueName: "PASSPHRASE",
    description: "Passphrase of an encrypted private key.",
    defaultHelp: "not set",
  },
  // --- telemetry ---
  {
    key: "logLevel",
    flag: "log-level",
    env: "VZK_LOG_LEVEL",
    kind: "enum",
    choices: ["debug", "info", "warn", "error"],
    aliases: { warning: "warn" },
    group: "telemetry",
    valueName: "LEVEL",
    description: "Least severe level of log records written to stderr.",
    default: "info",
  },
  {
    key: "traceSampleRate",
    flag: "trace-sample-rate",
    env: "VZK_TRACE_SAMPLE_RATE",
    kind: "percent",
    group: "telemetry",
    valueName: "RATE",
    description: "Share of traces to keep. Numbers are percentages, as in the Go original: " +
      "25 (or 25%) keeps one trace in four.",
    defaultHelp: "always sample",
  },
  {
    key: "otlpEndpoint",
    env: "OTEL_EXPORTER_OTLP_ENDPOINT",
    kind: "string",
    format: "otlp-endpoint",
    group: "telemetry",
    valueName: "URL",
    description: "OTLP/HTTP collector to send traces to. Without a scheme (host:port), " +
      "https:// is assumed, or http:// when OTEL_EXPORTER_OTLP_INSECURE is true.",
    defaultHelp: "not set (tracing disabled)",
  },
  {
    key: "otlpInsecure",
    env: "OTEL_EXPORTER_OTLP_INSECURE",
    kind: "bool",
    group: "telemetry",
    valueName: "BOOL",
    description: "Send traces without TLS.",
    default: "false",
  },
  {
    key: "otelServiceName",
    env: "OTEL_SERVICE_NAME",
    kind: "string",
    group: "telemetry",
    valueName: "NAME",
    description: "service.name of the traces.",
    defaultHelp: "not set",
  },
];

/** `--pod-sync-workers` -> `VZK_POD_SYNC_WORKERS`: the environment twin of a flag. */
export function envTwinOf(flag: string): string {
  return "VZK_" + flag.toUpperCase().replaceAll("-", "_");
}

export function optionByKey(key: OptionKey): OptionSpec {
  const spec = OPTIONS.find((o) => o.key === key);
  if (!spec) throw new Error(`no option ${key}`);
  return spec;
}

export function optionByFlag(flag: string): OptionSpec | undefined {
  return OPTIONS.find((o) => o.flag === flag);
}

/** How people name an option: `--nodename / VZK_NODENAME`, or just the variable. */
export function optionLabel(spec: OptionSpec): string {
  return spec.flag ? `--${spec.flag} / ${spec.env}` : spec.env;
}

const FORMAT_ACCEPTS: Readonly<Record<OptionFormat, string>> = {
  "dns-subdomain": "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', " +
    "starting and ending with a letter or digit, at most 253 characters",
  "qualified-name": "a qualified name like example.com/name: an optional DNS subdomain " +
    "prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and " +
    "ending with a letter or digit",
  "label-value": "at most 63 letters, digits, '-', '_' or '.', starting and ending with " +
    "a letter or digit",
  "ip": "an IPv4 or IPv6 address, e.g. 10.0.0.5 or fd00::5",
  "otlp-endpoint": "an http:// or https:// URL, or host:port",
  "docker-host": "unix:///path/to/docker.sock, tcp://host:port, http://host:port or " +
    "https://host:port",
  "interface-name": "a network interface name like en0 or vlan0 (at most 15 characters, " +
    "no spaces or '/')",
  "no-spaces": "a non-empty value without spaces",
  "pem-base64": "the base64 encoding of a PEM or OpenSSH private key",
  "ipv4-cidr": "an IPv4 subnet like 10.251.0.0/24, prefix length 8 to 29",
};

/** What an option accepts, as a noun phrase: used by errors ("give ...") and by help. */
export function acceptsText(spec: OptionSpec): string {
  switch (spec.kind) {
    case "int":
      return rangeText("an integer", spec);
    case "duration":
      return rangeText("whole seconds", spec) +
        " (a number of seconds like 90, or a duration like 30s, 2m, 1h30m)";
    case "bool":
      return "true or false (also 1/0, yes/no)";
    case "enum":
      return "one of " + (spec.choices ?? []).join(", ") + aliasText(spec);
    case "percent":
      return "always, never, or a percentage from 0 to 100 (25 or 25%)";
    case "path":
      return spec.mustExist ? "the path of an existing file" : "a path";
    case "string":
      return spec.format ? FORMAT_ACCEPTS[spec.format] : "a non-empty value";
  }
}

function aliasText(spec: OptionSpec): string {
  const pairs = Object.entries(spec.aliases ?? {}).map(([alias, value]) => `${alias} = ${value}`);
  return pairs.length > 0 ? ` (${pairs.join(", ")})` : "";
}

function rangeText(what: string, spec: OptionSpec): string {
  if (spec.min !== undefined && spec.max !== undefined) {
    return `${what} from ${spec.min} to ${spec.max}`;
  }
  if (spec.min !== undefined) return `${what} >= ${spec.min}`;
  if (spec.max !== undefined) return `${what} <= ${spec.max}`;
  return what;
}

/** How help shows the default of an option. */
export function defaultText(spec: OptionSpec): string {
  if (spec.defaultHelp !== undefined) return spec.defaultHelp;
  if (spec.default !== undefined) return spec.default;
  return "not set";
}
