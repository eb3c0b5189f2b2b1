// The handlers of lifecycle hooks and probes: exec in the container through its driver (SSH
// in the VM, docker exec in a container), httpGet, tcpSocket and grpc to the container's
// address, and sleep. Each resolves with what happened, so hooks and probes
// can word their events the kubelet's way.

import type * as k8s from "@kubernetes/client-node";
import http from "node:http";
import https from "node:https";
import type { ContainerDriver } from "./driver.ts";
import { grpcHealthCheck } from "./grpc_health.ts";

export interface HandlerResult {
  ok: boolean;
  /** Output or the failure, shortened for events. */
  output: string;
}

/** A hook's handler (exec, httpGet, tcpSocket, sleep) or a probe's (exec, httpGet, tcpSocket, grpc). */
export type Handler = Pick<k8s.V1LifecycleHandler, "exec" | "httpGet" | "tcpSocket" | "sleep"> & {
  grpc?: k8s.V1GRPCAction;
};

const MAX_OUTPUT = 1024;
const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

/** A port given by number or by the name of one of the container's ports. */
export function resolvePort(
  port: number | string,
  container: k8s.V1Container,
): number | undefined {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

async function execHandler(
  driver: ContainerDriver,
  command: string[],
  signal: AbortSignal,
): Promise<HandlerResult> {
  let output = "";
  const dec = new TextDecoder();
  const sink = () =>
    new WritableStream<Uint8Array>({
      write: (d) => {
        if (output.length < MAX_OUTPUT) output += dec.decode(d, { stream: true });
      },
    });
  const code = await driver.exec(command, { tty: false, stdout: sink(), stderr: sink(), signal });
  const text = output.trim().slice(0, MAX_OUTPUT);
  return code === 0 ? { ok: true, output: text } : {
    ok: false,
    output: `command ${JSON.stringify(command)} exited ${code}${text ? `: ${text}` : ""}`,
  };
}

function httpHandler(
  get: k8s.V1HTTPGetAction,
  host: string,
  port: number,
  signal: AbortSignal,
): Promise<HandlerResult> {
  const secure = get.scheme === "HTTPS";
  const headers: Record<string, string> = { "User-Agent": "kube-probe/macos-vz-kubelet" };
  for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
  const url = `${secure ? "https" : "http"}://${host}:${port}${get.path ?? "/"}`;
  return new Promise((resolve) => {
    // node:http(s) rather than fetch: the kubelet does not verify probe certificates, and
    // Deno's fetch cannot be told not to.
    const req = (secure ? https : http).request(url, {
      method: "GET",
      headers,
      signal,
      rejectUnauthorized: false,
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        if (body.length < MAX_OUTPUT) body += d;
      });
      res.on("end", () => {
        const code = res.statusCode ?? 0;
        const ok = code >= 200 && code < 400;
        resolve({ ok, output: ok ? body.trim() : `HTTP probe failed with statuscode: ${code}` });
      });
      res.on("error", (err) => resolve({ ok: false, output: `Get "${url}": ${err.message}` }));
    });
    req.on("error", (err) => resolve({ ok: false, output: `Get "${url}": ${err.message}` }));
    req.end();
  });
}

async function tcpHandler(host: string, port: number): Promise<HandlerResult> {
  try {
    const conn = await Deno.connect({ hostname: host, port });
    conn.close();
    return { ok: true, output: "" };
  } catch (err) {
    return { ok: false, output: `dial tcp ${host}:${port}: ${errText(err)}` };
  }
}

/** Runs `handler` against the container; never throws for a failing target. */
export async function runHandler(
  handler: Handler,
  c: { spec: k8s.V1Container; driver: ContainerDriver },
  signal: AbortSignal,
): Promise<HandlerResult> {
  try {
    if (handler.exec?.command?.length) {
      return await execHandler(c.driver, handler.exec.command, signal);
    }
    if (handler.sleep) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, handler.sleep!.seconds * 1000);
        signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
      return { ok: true, output: "" };
    }
    if (handler.grpc) {
      const host = await c.driver.address();
      if (!host) return { ok: false, output: "the container has no address yet" };
      return await grpcHealthCheck(host, handler.grpc.port, handler.grpc.service ?? "", signal);
    }
    const target = handler.httpGet ?? handler.tcpSocket;
    if (!target) return { ok: false, output: "the handler names no action" };
    const port = resolvePort(target.port, c.spec);
    if (port === undefined) {
      return { ok: false, output: `unknown port ${JSON.stringify(target.port)}` };
    }
    const host = target.host || await c.driver.address();
    if (!host) return { ok: false, output: "the container has no address yet" };
    return handler.httpGet
      ? await httpHandler(handler.httpGet, host, port, signal)
      : await tcpHandler(host, port);
  } catch (err) {
    return { ok: false, output: errText(err) };
  }
}

/** Whether the hook has anything to run. */
export function hasAction(h: Handler | undefined): h is Handler {
  return !!(h?.exec?.command?.length || h?.httpGet || h?.tcpSocket || h?.sleep || h?.grpc);
}
