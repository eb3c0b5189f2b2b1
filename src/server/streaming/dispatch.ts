// Entry point of the streaming routes (exec, attach, portForward) once a request is
// authorised: checks the pod and container and the request's options, negotiates the
// subprotocol, switches protocols (SPDY/3.1 or WebSocket) and runs the session.
// Resolves with the HTTP status given to the caller (101 when the session ran).

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { ServerContext } from "../context.ts";
import { lookupPod } from "../pod_lookup.ts";
import type { Route } from "../router.ts";
import { failure, writeRawResponse, writeRawStatus } from "../status.ts";
import {
  channelVersion,
  headerList,
  negotiate,
  parseRemoteCommand,
  PORT_FORWARD_PROTOCOL,
  SPDY_EXEC_PROTOCOLS,
} from "./options.ts";
import { serveSpdyRemoteCommand } from "./spdy_exec.ts";
import { serveSpdyPortForward } from "./spdy_portforward.ts";
import { serveWebSocket } from "./websocket.ts";

type StreamingRoute = Extract<Route, { kind: "exec" | "attach" | "portForward" }>;

export async function serveStreaming(
  ctx: ServerContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  route: Route,
  url: URL,
): Promise<number> {
  const r = route as StreamingRoute;
  const container = r.kind === "portForward" ? undefined : r.container;
  const found = lookupPod(ctx.pods, r.namespace, r.pod, container, r.uid);
  if (!found.ok) {
    writeRawStatus(socket, found.status);
    return 404;
  }
  const bad = (message: string) => {
    writeRawStatus(socket, failure(400, message));
    return 400;
  };
  const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
  const connection = String(req.headers.connection ?? "").toLowerCase();
  if (!connection.includes("upgrade")) return bad("a Connection: Upgrade request is required");

  if (upgrade === "websocket") return await serveWebSocket(ctx, req, socket, head, r, url);
  if (!upgrade.includes("spdy/3.1")) {
    return bad(
      `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? "")}; ` +
        "use SPDY/3.1 or websocket",
    );
  }

  const offered = headerList(req.headers["x-stream-protocol-version"]);
  const supported = r.kind === "portForward" ? [PORT_FORWARD_PROTOCOL] : SPDY_EXEC_PROTOCOLS;
  if (offered.length === 0) {
    return bad("unable to upgrade: header X-Stream-Protocol-Version does not exist in request");
  }
  const protocol = negotiate(offered, supported);
  if (!protocol) {
    writeRawResponse(
      socket,
      403,
      {
        "Content-Type": "text/plain; charset=utf-8",
        "X-Accepted-Stream-Protocol-Versions": [...supported],
      },
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(" ")}], ` +
        `server accepts [${supported.join(" ")}]\n`,
    );
    return 403;
  }

  if (r.kind === "portForward") {
    switchProtocols(socket, protocol);
    ctx.metrics.upgraded("portforward", "spdy");
    await serveSpdyPortForward(ctx, socket, head, r);
    return 101;
  }
  const request = parseRemoteCommand(url.searchParams, r.kind);
  if (!request.ok) return bad(request.message);
  const { flags, command } = request.value;
  switchProtocols(socket, protocol);
  ctx.metrics.upgraded(r.kind, "spdy");
  await serveSpdyRemoteCommand(ctx, socket, head, protocol, channelVersion(protocol), flags, {
    kind: r.kind,
    namespace: r.namespace,
    pod: r.pod,
    container: r.container,
    command,
  });
  return 101;
}

function switchProtocols(socket: Duplex, protocol: string): void {
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\n" +
      "Connection: Upgrade\r\n" +
      "Upgrade: SPDY/3.1\r\n" +
      `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
  );
}
