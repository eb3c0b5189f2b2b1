// The validated, typed configuration of the agent: what every other module reads.
// Built from flags and environment by src/config/parse.ts; nothing else reads Deno.env
// for agent settings.

import type { LogLevel } from "../telemetry/log.ts";
export type { LogLevel };
export type BackendName = "vz" | "qemu";
export type TaintEffect = "NoSchedule" | "PreferNoSchedule" | "NoExecute";

/** SSH credentials for reaching guests. Never logged: see redactConfig. */
export interface SshCredentials {
  user?: string;
  password?: string;
  privateKeyPath?: string;
  /** PEM text decoded from VZ_SSH_PRIVATE_KEY_BASE64. */
  privateKey?: string;
  privateKeyPassphrase?: string;
}

export interface Config {
  nodeName: string;
  providerId?: string;
  /** Seconds; 0 means wait forever. */
  startupTimeoutSeconds: number;
  disableTaint: boolean;
  taint: { key: string; value: string; effect: TaintEffect };
  logLevel: LogLevel;
  podSyncWorkers: number;
  fullResyncPeriodSeconds: number;

  /** Path of the kubeconfig used to reach the API server (KUBECONFIG, default ~/.kube/config). */
  kubeconfigPath: string;
  /** Kubelet serving certificate and key (APISERVER_CERT_LOCATION / APISERVER_KEY_LOCATION). */
  servingCertPath?: string;
  servingKeyPath?: string;
  /** APISERVER_CA_CERT_LOCATION. */
  apiserverCaPath?: string;
  /** --client-verify-ca (defaults to APISERVER_CA_CERT_LOCATION). */
  clientVerifyCaPath?: string;
  noVerifyClients: boolean;
  authenticationTokenWebhook: boolean;
  /** Kubelet API connections: TLS handshake, first request header, idle keep-alive (seconds). */
  connectionTimeouts: {
    tlsHandshakeSeconds: number;
    requestHeaderSeconds: number;
    idleSeconds: number;
  };
  authenticationTokenWebhookCacheTtlSeconds: number;
  authorizationWebhookCacheAuthorizedTtlSeconds: number;
  authorizationWebhookCacheUnauthorizedTtlSeconds: number;
  kubeletPort: number;

  /** Trace sampling ratio in [0, 1]; undefined means always sample. */
  traceSampleRate?: number;
  otlpEndpoint?: string;
  otlpInsecure: boolean;
  otelServiceName?: string;

  /** VKUBELET_POD_IP: address reported as the node's InternalIP. */
  podIp?: string;
  bridgeInterface?: string;
  ssh: SshCredentials;
  dockerHost: string;
  /** Docker network of the pods' containers. */
  dockerNetwork: string;
  /** Where pods reach the API server through the agent (KUBERNETES_SERVICE_PORT). */
  apiProxyPort: number;

  cacheDir: string;
  backend: BackendName;
  /** VM slots (--max-vms): how many VM pods run at once. */
  maxVms: number;
  sshReadinessTimeoutSeconds: number;
  /** The qemu backend's own network: a bridge, its subnet, NAT to the uplink. */
  qemu: { bridge: string; subnet: string; nat: boolean };
  /** Registries reached over plain HTTP although not on loopback. */
  insecureRegistries: string[];
  /** --registry-ca: extra CA certificates (PEM file) for registries' TLS. */
  registryCaPath?: string;
  /** --allow-image-copy: full copies of image files where copy-on-write is unavailable. */
  allowImageCopy: boolean;
  /** The vz backend: --vz-machine-id, a new machine identifier per VM or the image's. */
  vz: { machineId: "new" | "image" };
  /** Image garbage collection: unused for longer than this, or free space below this. */
  imageGc: { unusedForSeconds: number; minFreePercent: number };
}
