// The server's half of the WebSocket opening handshake (RFC 6455 section 4.2): which requests
// may be upgraded, and the 101 response naming the negotiated subprotocol. Subprotocols are
// compared as the Kubernetes clients send them: "SPDY/3.1+portforward.k8s.io" is not an HTTP
// token, and gorilla/websocket (kubectl, kube-apiserver) sends and accepts it anyway.

import { createHash } from "node:crypto";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

type Headers = Record<string, string | string[] | undefined>;

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(",") : v ?? "");

/** Why `headers` are not a WebSocket upgrade a server can accept, or undefined when they are. */
export function handshakeProblem(method: string, headers: Headers): string | undefined {
  if (method !== "GET") return `a WebSocket upgrade must be a GET, not ${method}`;
  if (one(headers.upgrade).toLowerCase() !== "websocket") return "Upgrade: websocket is required";
  if (one(headers["sec-websocket-version"]).trim() !== "13") {
    return "only WebSocket version 13 is spoken (Sec-WebSocket-Version: 13)";
  }
  const key = one(headers["sec-websocket-key"]).trim();
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) return "Sec-WebSocket-Key must be 16 bytes of base64";
  return undefined;
}

/** The 101 response that completes the handshake, choosing `protocol` ("" for none). */
export function switchingProtocols(headers: Headers, protocol: string): string {
  const accept = acceptKey(one(headers["sec-websocket-key"]).trim());
  return "HTTP/1.1 101 Switching Protocols\r\n" +
    "Upgrade: websocket\r\n" +
    "Connection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${accept}\r\n` +
    (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
    "\r\n";
}
