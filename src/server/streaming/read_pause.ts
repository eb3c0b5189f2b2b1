// Pausing reads of a socket so the peer really is held back. Under Deno 2.9 a node:tls
// socket's pause() (and its TLS handle's readStop) only stops delivery: the TLS layer keeps
// reading the TCP connection and buffers everything the peer sends, so memory grows without
// bound and TCP never pushes back. Stopping the raw TCP handle underneath (accepted sockets:
// `_parent._handle`; connected ones: `_handle._nativeTcpHandle`) does stop the reads. These
// are internals, so they are used only when present; plain sockets and other duplexes just
// get pause()/resume(). tests/unit/server_read_pause_test.ts tells when Deno changes them.

import type { Duplex } from "node:stream";

interface StreamHandle {
  readStop: () => unknown;
  readStart: () => unknown;
}

interface TlsInternals {
  _parent?: { _handle?: Partial<StreamHandle> };
  _handle?: { _nativeTcpHandle?: Partial<StreamHandle> };
}

/** The TCP handle under a node:tls socket, when there is one. */
export function rawHandle(socket: Duplex): StreamHandle | undefined {
  const internals = socket as unknown as TlsInternals;
  const handle = internals._parent?._handle ?? internals._handle?._nativeTcpHandle;
  return typeof handle?.readStop === "function" && typeof handle.readStart === "function"
    ? handle as StreamHandle
    : undefined;
}

export function pauseReading(socket: Duplex): void {
  socket.pause();
  rawHandle(socket)?.readStop();
}

export function resumeReading(socket: Duplex): void {
  rawHandle(socket)?.readStart();
  socket.resume();
}
