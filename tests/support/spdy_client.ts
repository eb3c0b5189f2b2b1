// A direct client of the kubelet API for tests: TLS with a chosen client certificate, the
// HTTP upgrade to SPDY/3.1 with a chosen X-Stream-Protocol-Version, then our own SPDY session
// in the client role (the same code the server runs, the other way round).

import tls from "node:tls";
import { SpdySession, type SpdySessionOptions } from "../../src/server/streaming/spdy/session.ts";

export interface TlsIdentity {
  ca: string;
  cert?: string;
  key?: string;
}

export async function readIdentity(
  paths: { ca: string; cert?: string; key?: string },
): Promise<TlsIdentity> {
  return {
    ca: await Deno.readTextFile(paths.ca),
    cert: paths.cert ? await Deno.readTextFile(paths.cert) : undefined,
    key: paths.key ? await Deno.readTextFile(paths.key) : undefined,
  };
}

export type UpgradeResult =
  | { ok: true; protocol: string; session: SpdySession; socket: tls.TLSSocket }
  | { ok: false; status: number; headers: Record<string, string>; body: string };

/** Connects, sends the upgrade request and returns the session or the refusal. */
export async function spdyUpgrade(
  port: number,
  path: string,
  id: TlsIdentity,
  protocols: string[],
  opts: Partial<SpdySessionOptions> = {},
): Promise<UpgradeResult> {
  const socket = tls.connect({ host: "127.0.0.1", port, ca: id.ca, cert: id.cert, key: id.key });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\n` +
      `Upgrade: SPDY/3.1\r\n` +
      (protocols.length ? `X-Stream-Protocol-Version: ${protocols.join(", ")}\r\n` : "") +
      `Content-Length: 0\r\n\r\n`,
  );
  let buffered = new Uint8Array(0);
  const headEnd = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Uint8Array) => {
      const next = new Uint8Array(buffered.length + chunk.length);
      next.set(buffered);
      next.set(chunk, buffered.length);
      buffered = next;
      const text = new TextDecoder().decode(buffered);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        socket.off("data", onData);
        socket.pause();
        resolve(new TextEncoder().encode(text.slice(0, end + 4)).length);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("end", () => reject(new Error("connection ended before a response")));
  });
  const head = new TextDecoder().decode(buffered.subarray(0, headEnd));
  const [statusLine, ...lines] = head.trim().split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    const name = l.slice(0, i).trim().toLowerCase();
    headers[name] = headers[name]
      ? `${headers[name]}, ${l.slice(i + 1).trim()}`
      : l.slice(i + 1).trim();
  }
  const rest = buffered.subarray(headEnd);
  if (status !== 101) {
    let body = new TextDecoder().decode(rest);
    const length = Number(headers["content-length"] ?? 0);
    while (new TextEncoder().encode(body).length < length) {
      socket.resume();
      const chunk = await new Promise<Uint8Array | null>((r) => {
        socket.once("data", r);
        socket.once("end", () => r(null));
      });
      if (!chunk) break;
      body += new TextDecoder().decode(chunk);
    }
    socket.destroy();
    return { ok: false, status, headers, body };
  }
  const session = new SpdySession(socket, { server: false, ...opts }, rest);
  socket.resume();
  return { ok: true, protocol: headers["x-stream-protocol-version"] ?? "", session, socket };
}

/** Everything a readable yields, concatenated. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
