// exec, attach and port-forward for callers that speak WebSocket to the kubelet API directly
// (the channel protocols channel.k8s.io … v5.channel.k8s.io, their base64 forms, and
// port-forward's channel and SPDY-tunnel forms): kubectl's streams as kube-apiserver 1.36+
// passes them through (ExtendWebSocketsToKubelet), and direct callers. WebSocket itself: ws/.

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { ServerContext } from "../context.ts";
import { sessionLifetime } from "./lifetime.ts";
import type { Route } from "../router.ts";
import { failure, writeRawStatus } from "../status.ts";
import {
  channelVersion,
  headerList,
  negotiate,
  parsePorts,
  parseRemoteCommand,
  WS_EXEC_PROTOCOLS,
  WS_PORT_FORWARD_PROTOCOLS,
} from "./options.ts";
import { runRemoteCommand } from "./remote_command.ts";
import { channelConnection } from "./ws_channels.ts";
import { serveWsPortForward } from "./ws_portforward.ts";
import { WsConnection } from "./ws/connection.ts";
import { handshakeProblem, switchingProtocols } from "./ws/handshake.ts";

type StreamingRoute = Extract<Route, { kind: "exec" | "attach" | "portForward" }>;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/** Completes the handshake choosing `protocol` ("" when the caller offered none). */
function accept(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string) {
  socket.write(switchingProtocols(req.headers, protocol));
  return new WsConnection(socket, new Uint8Array(head.buffer, head.byteOffset, head.byteLength));
}

export async function serveWebSocket(
  ctx: ServerContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  route: StreamingRoute,
  url: URL,
): Promise<number> {
  const offered = headerList(req.headers["sec-websocket-protocol"]);
  const supported = route.kind === "portForward" ? WS_PORT_FORWARD_PROTOCOLS : WS_EXEC_PROTOCOLS;
  const protocol = offered.length ? negotiate(offered, supported) : "";
  const bad = (message: string) => {
    writeRawStatus(socket, failure(400, message));
    return 400;
  };
  const problem = handshakeProblem(req.method ?? "GET", req.headers);
  if (problem) return bad(`unable to upgrade: ${problem}`);
  if (protocol === undefined) {
    return bad(
      `unable to negotiate a WebSocket protocol: client offers [${offered.join(" ")}], ` +
        `server accepts [${supported.join(" ")}]`,
    );
  }

  if (route.kind === "portForward") {
    let ports: number[] = [];
    if (protocol !== "SPDY/3.1+portforward.k8s.io") {
      const parsed = parsePorts(url.searchParams);
      if (!parsed.ok) return bad(parsed.message);
      ports = parsed.value;
    }
    const ws = accept(req, socket, head, protocol);
    ctx.metrics.upgraded("portforward", "websocket");
    await serveWsPortForward(ctx, ws, protocol, ports, route);
    return 101;
  }

  const request = parseRemoteCommand(url.searchParams, route.kind);
  if (!request.ok) return bad(request.message);
  const { flags, command } = request.value;
  const ws = accept(req, socket, head, protocol);
  ctx.metrics.upgraded(route.kind, "websocket");
  const conn = channelConnection(ws, protocol.includes("base64"), ctx.timeouts.idleTimeoutMs);
  const version = channelVersion(protocol || "channel.k8s.io");
  const life = sessionLifetime(ctx, route.kind, conn.closed);
  try {
    // The kubelet's handshake: an empty message on the first output channel.
    const first = flags.stdout ? STDOUT : flags.stderr ? STDERR : ERROR;
    await conn.send(first, new Uint8Array(0)).catch(() => {});
    await runRemoteCommand(ctx, { ...route, command }, {
      stdin: flags.stdin ? conn.readable(STDIN) : undefined,
      stdout: flags.stdout ? conn.writable(STDOUT) : undefined,
      stderr: flags.stderr ? conn.writable(STDERR) : undefined,
      resize: flags.tty ? conn.readable(RESIZE) : undefined,
      tty: flags.tty,
      version,
      signal: life.signal,
      async writeError(bytes) {
        if (bytes.byteLength) await conn.send(ERROR, bytes);
      },
    });
  } finally {
    life.end();
    conn.close(1000);
  }
  return 101;
}
