// Kubernetes `Status` bodies for the kubelet API's error answers, written either to an HTTP
// response or, before/instead of a protocol upgrade, straight onto the raw socket.

import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

export interface StatusDetails {
  name?: string;
  kind?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
}

export interface KubeStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  422: "Invalid",
  500: "InternalError",
  503: "ServiceUnavailable",
};

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  422: "Unprocessable Entity",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** A Failure Status with the usual reason for `code`. */
export function failure(code: number, message: string, details?: StatusDetails): KubeStatus {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: REASONS[code] ?? "Unknown",
    ...(details ? { details } : {}),
    code,
  };
}

/** 404 for a pod (`ns/name`) or a container in it. */
export function notFound(what: "pods" | "containers", name: string, message: string): KubeStatus {
  return failure(404, message, { name, kind: what });
}

/** Writes `status` as the whole JSON response. */
export function sendStatus(res: ServerResponse, status: KubeStatus): void {
  const body = JSON.stringify(status) + "\n";
  if (!res.headersSent) {
    res.writeHead(status.code ?? 500, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
  }
  res.end(body);
}

/**
 * A plain-text error, as the kubelet writes the errors of a running operation: the API
 * server hands such bodies to kubectl verbatim, so text reads better than JSON there.
 */
export function sendText(res: ServerResponse, code: number, message: string): void {
  const body = message + "\n";
  if (!res.headersSent) {
    res.writeHead(code, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
  }
  res.end(body);
}

/** Writes a whole HTTP/1.1 response on a socket that was handed over for an upgrade. */
export function writeRawResponse(
  socket: Duplex,
  code: number,
  headers: Record<string, string | string[]>,
  body: string,
): void {
  const bytes = Buffer.from(body);
  const lines = [`HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? "Error"}`];
  const all: Record<string, string | string[]> = {
    ...headers,
    "Content-Length": String(bytes.length),
    Connection: "close",
  };
  for (const [name, value] of Object.entries(all)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  socket.end(Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), bytes]));
}

/** A Status as a raw HTTP response on an upgrade socket. */
export function writeRawStatus(socket: Duplex, status: KubeStatus): void {
  writeRawResponse(
    socket,
    status.code ?? 500,
    { "Content-Type": "application/json" },
    JSON.stringify(status) + "\n",
  );
}
