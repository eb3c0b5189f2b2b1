// The kubelet API's HTTPS server: TLS with a reloadable serving certificate and optional
// client-certificate verification, then for every request (plain or upgrade) authentication,
// authorisation and dispatch to a route. Built on node:https because it exposes the verified
// peer certificate and hands over the raw TLS socket on upgrade, which SPDY needs.

import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { AuthApi } from "../kube/auth.ts";
import type { PodRuntime } from "../runtime/types.ts";
import type { Logger } from "../telemetry/log.ts";
import { createAuthenticator } from "./authn.ts";
import { createAuthorizer } from "./authz.ts";
import type { ServerContext, StreamingTimeouts } from "./context.ts";
import { createServerMetrics, type ServerMetrics } from "./metrics.ts";
import { createNodeSampler } from "./node_stats.ts";
import type { PodDirectory } from "./pod_lookup.ts";
import { matchRoute, methodAllowed, type Route, STREAMING } from "./router.ts";
import { containerLogs } from "./routes/logs.ts";
import * as simple from "./routes/simple.ts";
import { failure, type KubeStatus, sendStatus, writeRawStatus } from "./status.ts";
import { serveStreaming } from "./streaming/dispatch.ts";
import { readTlsMaterial, type TlsMaterial, watchTlsFiles } from "./tls_files.ts";

export interface KubeletServerOptions {
  nodeName: string;
  port: number;
  /** Listen address; default all interfaces. */
  hostname?: string;
  certPath: string;
  keyPath: string;
  /** CA verifying client certificates (a file, re-read on change); ignored without verifyClients. */
  clientCaPath?: string;
  /** CA PEM when it comes from the kubeconfig rather than a file. */
  clientCaPem?: string;
  verifyClients: boolean;
  /** TokenReview/SubjectAccessReview; bearer tokens are accepted only with tokenWebhook. */
  auth: AuthApi;
  tokenWebhook: boolean;
  tokenTtlMs: number;
  allowedTtlMs: number;
  deniedTtlMs: number;
  runtime: PodRuntime;
  pods: PodDirectory;
  log: Logger;
  timeouts: StreamingTimeouts;
  connectionTimeouts: ConnectionTimeouts;
  tlsReloadIntervalMs?: number;
}

/** Limits on a connection before it carries a request, and between its requests. */
export interface ConnectionTimeouts {
  /** The TLS handshake must finish within this. */
  handshakeMs: number;
  /** The first request's header must have arrived this long after the handshake. */
  requestHeaderMs: number;
  /** A kept-alive connection with no request for this long is closed. */
  idleMs: number;
}

export interface KubeletServer {
  readonly port: number;
  readonly metrics: ServerMetrics;
  /** Stops listening, ends open sessions, closes every connection. */
  stop(): Promise<void>;
}

type Target =
  | { kind: "http"; res: ServerResponse }
  | { kind: "upgrade"; socket: Duplex; head: Buffer };

export async function createKubeletServer(opts: KubeletServerOptions): Promise<KubeletServer> {
  const log = opts.log.with({ component: "kubelet-api" });
  const paths = {
    certPath: opts.certPath,
    keyPath: opts.keyPath,
    caPath: opts.verifyClients ? opts.clientCaPath : undefined,
  };
  let material: TlsMaterial = await readTlsMaterial(paths);
  const caPem = () => opts.verifyClients ? material.ca ?? opts.clientCaPem : undefined;
  const secure = () => ({ cert: material.cert, key: material.key, ca: caPem() });
  const server = https.createServer({
    ...secure(),
    requestCert: opts.verifyClients,
    // Unverified certificates are not rejected in the handshake: such callers may still
    // present a bearer token, and otherwise get a 401 from authentication.
    rejectUnauthorized: false,
    handshakeTimeout: opts.connectionTimeouts.handshakeMs,
  });
  // Deno's node:http honours keepAliveTimeout but not headersTimeout/requestTimeout, so the
  // header deadline is kept below, per connection.
  server.keepAliveTimeout = opts.connectionTimeouts.idleMs;
  const watcher = watchTlsFiles(
    paths,
    material,
    (next) => {
      material = next;
      server.setSecureContext(secure());
    },
    log,
    opts.tlsReloadIntervalMs,
  );

  const closing = new AbortController();
  const metrics = createServerMetrics();
  const ctx: ServerContext = {
    nodeName: opts.nodeName,
    runtime: opts.runtime,
    pods: opts.pods,
    log,
    metrics,
    nodeSample: createNodeSampler(),
    timeouts: opts.timeouts,
    closing: closing.signal,
  };
  const authenticate = createAuthenticator({
    verifyClients: opts.verifyClients,
    tokens: opts.tokenWebhook ? opts.auth : undefined,
    tokenTtlMs: opts.tokenTtlMs,
  });
  const authorize = createAuthorizer({
    api: opts.auth,
    node: opts.nodeName,
    allowedTtlMs: opts.allowedTtlMs,
    deniedTtlMs: opts.deniedTtlMs,
  });

  const reply = (target: Target, status: KubeStatus) =>
    target.kind === "http" ? sendStatus(target.res, status) : writeRawStatus(target.socket, status);

  async function handle(req: IncomingMessage, target: Target): Promise<void> {
    const started = performance.now();
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "https://kubelet.invalid");
    const route = matchRoute(url.pathname);
    const routeName = route?.kind ?? "unknown";
    let code = 0;
    const finish = (c: number) => {
      code ||= c;
    };
    try {
      const authn = await authenticate(req);
      if (!authn.ok) {
        log.debug("kubelet API: unauthenticated request", {
          path: url.pathname,
          why: authn.reason,
        });
        metrics.refused(401);
        finish(401);
        return reply(target, failure(401, "Unauthorized"));
      }
      const authz = await authorize(authn.user, method, url.pathname);
      if (!authz.allowed) {
        const { verb, subresources } = authz.attrs;
        const message = `Forbidden (user=${authn.user.username}, verb=${verb}, resource=nodes, ` +
          `subresource(s)=[${subresources.join(" ")}])`;
        log.info("kubelet API: request forbidden", {
          path: url.pathname,
          user: authn.user.username,
        });
        metrics.refused(403);
        finish(403);
        return reply(target, failure(403, message));
      }
      if (!route) {
        finish(404);
        return reply(target, failure(404, `no such kubelet API path: ${url.pathname}`));
      }
      if (!methodAllowed(route.kind, method)) {
        finish(405);
        return reply(target, failure(405, `${method} is not allowed on ${url.pathname}`));
      }
      if (STREAMING.has(route.kind)) {
        if (target.kind !== "upgrade") {
          finish(400);
          return reply(
            target,
            failure(400, `${url.pathname}: an upgrade to SPDY/3.1 or WebSocket is required`),
          );
        }
        finish(await serveStreaming(ctx, req, target.socket, target.head, route, url));
        return;
      }
      if (target.kind === "upgrade") {
        finish(400);
        return reply(target, failure(400, `${url.pathname} cannot be upgraded`));
      }
      await serveHttp(ctx, req, target.res, route, url);
      finish(target.res.statusCode);
    } catch (err) {
      log.error("kubelet API: request failed", { path: url.pathname, method, error: err });
      finish(500);
      const message = `${method} ${url.pathname}: ${(err as Error).message}`;
      if (target.kind === "http" && target.res.headersSent) target.res.destroy();
      else reply(target, failure(500, message));
    } finally {
      metrics.request(routeName, method, code, (performance.now() - started) / 1000);
    }
  }

  const sockets = new Set<Socket>();
  const headerDeadlines = new Map<Socket, ReturnType<typeof setTimeout>>();
  const requestArrived = (socket: unknown) => {
    const timer = headerDeadlines.get(socket as Socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    headerDeadlines.delete(socket as Socket);
  };
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    headerDeadlines.set(
      socket,
      setTimeout(() => {
        headerDeadlines.delete(socket);
        metrics.connectionTimedOut("request-header");
        log.debug("kubelet API: no request header in time; closing the connection", {
          remote: socket.remoteAddress,
        });
        socket.destroy();
      }, opts.connectionTimeouts.requestHeaderMs),
    );
    socket.once("close", () => {
      sockets.delete(socket);
      requestArrived(socket);
    });
  });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    requestArrived(req.socket);
    handle(req, { kind: "http", res });
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    requestArrived(socket);
    socket.on("error", () => {});
    handle(req, { kind: "upgrade", socket, head });
  });
  server.on("tlsClientError", (err: Error) => {
    if (/timeout/i.test(err.message)) metrics.connectionTimedOut("tls-handshake");
    log.debug("kubelet API: TLS handshake failed", { error: err });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err: Error) => log.error("kubelet API: server error", { error: err }));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  log.info("kubelet API listening", {
    port,
    clientCertificates: opts.verifyClients ? "verified" : "not requested",
    bearerAuth: opts.tokenWebhook ? "TokenReview" : "off",
  });

  let stopped: Promise<void> | undefined;
  return {
    port,
    metrics,
    stop() {
      stopped ??= (async () => {
        watcher.stop();
        closing.abort();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        for (const timer of headerDeadlines.values()) clearTimeout(timer);
        await closed;
        log.info("kubelet API stopped");
      })();
      return stopped;
    },
  };
}

async function serveHttp(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  url: URL,
): Promise<void> {
  const head = req.method === "HEAD";
  switch (route.kind) {
    case "healthz":
      return simple.healthz(res, head);
    case "pods":
      return simple.pods(ctx, res, head);
    case "runningpods":
      return simple.runningPods(ctx, res, head);
    case "statsSummary":
      return await simple.statsSummary(ctx, res, head);
    case "metricsResource":
      return await simple.metricsResource(ctx, res, head);
    case "metrics":
      return simple.metrics(ctx, res, head);
    case "containerLogs":
      return await containerLogs(ctx, req, res, route, url.searchParams);
  }
}
