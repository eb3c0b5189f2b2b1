// A kubelet API server started on its own for tests that call it directly: a scripted
// TokenReview/SAR ("good-token" authenticates), the scripted runtime, loopback, short timeouts.

import type * as k8s from "@kubernetes/client-node";
import type { AuthApi } from "../../src/kube/auth.ts";
import {
  type ConnectionTimeouts,
  createKubeletServer,
  type KubeletServer,
} from "../../src/server/server.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import type { ScriptedRuntime } from "./scripted_runtime.ts";
import { readAll, spdyUpgrade, type TlsIdentity } from "./spdy_client.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });

const auth: AuthApi = {
  reviewToken: (token) =>
    Promise.resolve(
      token === "good-token"
        ? { authenticated: true, user: { username: "tester", groups: [] } }
        : { authenticated: false, error: "bad token" },
    ),
  reviewAccess: () => Promise.resolve({ allowed: true }),
};

/** A pod whose only container is the VM. */
export function pod(name: string): k8s.V1Pod {
  return {
    metadata: { name, namespace: "default", uid: `uid-${name}` },
    spec: { containers: [{ name: "vm", image: "x" }] },
  };
}

export async function serveDirect(
  opts: {
    certPath: string;
    keyPath: string;
    caPath: string;
    verifyClients?: boolean;
    idleTimeoutMs?: number;
    connectionTimeouts?: Partial<ConnectionTimeouts>;
  },
  runtime: ScriptedRuntime,
  pods: Map<string, k8s.V1Pod>,
): Promise<KubeletServer> {
  return await createKubeletServer({
    nodeName: "direct-node",
    port: 0,
    hostname: "127.0.0.1",
    certPath: opts.certPath,
    keyPath: opts.keyPath,
    clientCaPath: opts.caPath,
    verifyClients: opts.verifyClients ?? true,
    auth,
    tokenWebhook: true,
    tokenTtlMs: 60_000,
    allowedTtlMs: 60_000,
    deniedTtlMs: 1_000,
    runtime,
    pods: {
      get: (ns, name) => pods.get(`${ns}/${name}`),
      list: () => [...pods.values()],
    },
    log,
    timeouts: { idleTimeoutMs: opts.idleTimeoutMs ?? 60_000, creationTimeoutMs: 500 },
    connectionTimeouts: {
      handshakeMs: opts.connectionTimeouts?.handshakeMs ?? 10_000,
      requestHeaderMs: opts.connectionTimeouts?.requestHeaderMs ?? 10_000,
      idleMs: opts.connectionTimeouts?.idleMs ?? 30_000,
    },
    tlsReloadIntervalMs: 100,
  });
}

/** exec over SPDY: opens the streams, sends `stdin`, returns stdout, stderr and the error channel. */
export async function spdyExec(
  port: number,
  id: TlsIdentity,
  protocol: string,
  command: string[],
  stdin?: string,
) {
  const query = command.map((c) => `command=${encodeURIComponent(c)}`).join("&") +
    `&output=1&error=1${stdin !== undefined ? "&input=1" : ""}`;
  const up = await spdyUpgrade(port, `/exec/default/p1/vm?${query}`, id, [protocol]);
  if (!up.ok) throw new Error(`upgrade refused: ${up.status} ${up.body}`);
  const error = await up.session.openStream({ streamtype: "error" });
  const input = stdin !== undefined
    ? await up.session.openStream({ streamtype: "stdin" })
    : undefined;
  const out = await up.session.openStream({ streamtype: "stdout" });
  const err = await up.session.openStream({ streamtype: "stderr" });
  if (input) {
    const w = input.writable.getWriter();
    await w.write(enc(stdin!));
    await w.close();
  }
  const [stdout, stderr, status] = await Promise.all([
    readAll(out.readable),
    readAll(err.readable),
    readAll(error.readable),
  ]);
  up.session.destroy();
  return { protocol: up.protocol, stdout: dec(stdout), stderr: dec(stderr), status: dec(status) };
}
