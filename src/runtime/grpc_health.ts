// gRPC probes: one unary call of the standard health service, grpc.health.v1.Health/Check,
// over HTTP/2 without TLS, as the kubelet makes it. Hand-written over node:http2 rather than
// with @grpc/grpc-js: a probe needs one call with a one-field request and a one-field answer,
// and a gRPC stack plus protobuf runtime would add megabytes to every agent for it.
//
// Wire facts: a request is a 5-byte prefix (compressed flag 0, big-endian uint32 length) and
// the protobuf HealthCheckRequest { string service = 1; }; the answer is HealthCheckResponse
// { ServingStatus status = 1; } with SERVING = 1, and the call's outcome is the grpc-status
// trailer (0 = OK).

import http2 from "node:http2";

const SERVING = 1;
const STATUS_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** The framed HealthCheckRequest for `service` ("" asks about the server as a whole). */
export function healthRequest(service: string): Uint8Array {
  const name = new TextEncoder().encode(service);
  if (name.length > 127) throw new Error("grpc probe: service name longer than 127 bytes");
  const message = name.length ? new Uint8Array([0x0a, name.length, ...name]) : new Uint8Array();
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** The status field of a framed HealthCheckResponse; undefined when it cannot be read. */
export function healthStatus(body: Uint8Array): number | undefined {
  if (body.length < 5) return undefined;
  const len = new DataView(body.buffer, body.byteOffset + 1, 4).getUint32(0);
  const msg = body.subarray(5, 5 + len);
  // An empty message is status UNKNOWN (0, the proto3 default).
  for (let i = 0; i < msg.length;) {
    const tag = msg[i++];
    if (tag === 0x08) return msg[i];
    if ((tag & 7) === 0) {
      while (msg[i++] & 0x80) { /* skip varint */ }
    } else if ((tag & 7) === 2) i += 1 + msg[i];
    else return undefined;
  }
  return 0;
}

export interface GrpcResult {
  ok: boolean;
  output: string;
}

/** Asks `host:port` whether `service` is SERVING, giving up when `signal` aborts. */
export function grpcHealthCheck(
  host: string,
  port: number,
  service: string,
  signal: AbortSignal,
): Promise<GrpcResult> {
  return new Promise((resolve) => {
    const target = host.includes(":") ? `[${host}]` : host;
    let settled = false;
    const done = (r: GrpcResult) => {
      if (settled) return;
      settled = true;
      session.close();
      resolve(r);
    };
    const session = http2.connect(`http://${target}:${port}`);
    session.on("error", (err) => done({ ok: false, output: `rpc error: ${err.message}` }));
    signal.addEventListener("abort", () => {
      session.destroy();
      done({ ok: false, output: "timeout: health rpc did not complete within the probe timeout" });
    }, { once: true });
    const req = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
    });
    const chunks: Uint8Array[] = [];
    let trailers: http2.IncomingHttpHeaders = {};
    let headers: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => headers = h);
    req.on("data", (d: Uint8Array) => chunks.push(new Uint8Array(d)));
    req.on("trailers", (t) => trailers = t);
    req.on("error", (err) => done({ ok: false, output: `rpc error: ${err.message}` }));
    req.on("end", () => {
      const grpcStatus = String(trailers["grpc-status"] ?? headers["grpc-status"] ?? "");
      if (grpcStatus !== "0") {
        const raw = String(trailers["grpc-message"] ?? headers["grpc-message"] ?? "");
        const msg = (() => {
          try {
            return decodeURIComponent(raw); // grpc-message is percent-encoded
          } catch {
            return raw;
          }
        })();
        return done({ ok: false, output: `rpc error: code = ${grpcStatus || "?"} ${msg}`.trim() });
      }
      const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        body.set(c, at);
        at += c.length;
      }
      const status = healthStatus(body);
      if (status === SERVING) return done({ ok: true, output: "" });
      done({
        ok: false,
        output: `service unhealthy (responded with "${STATUS_NAMES[status ?? 0] ?? status}")`,
      });
    });
    req.end(healthRequest(service));
  });
}
