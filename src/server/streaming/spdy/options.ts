// Options of a SPDY session and their defaults.

import type { Logger } from "../../../telemetry/log.ts";
import type { PeerFlowControl } from "./flow.ts";
import type { SpdyStream } from "./stream.ts";

export interface SpdySessionOptions {
  /** Server sessions own even stream ids and answer odd ones; clients the reverse. */
  server: boolean;
  /** Called for each stream the peer opens; call stream.reply() to accept or reset() to refuse. */
  onStream?: (stream: SpdyStream) => void;
  /** Close the session after this long without any frame either way; 0 = never. */
  idleTimeoutMs?: number;
  /** "auto": enforce the peer's windows once it shows it does flow control. */
  peerFlowControl?: PeerFlowControl;
  /** Reset streams whose sender overruns our window (off for spdystream peers). */
  strictReceiveWindow?: boolean;
  /** The socket is paused while more than this many received bytes wait unread. */
  maxBufferedInbound?: number;
  /** Writers wait while more than this many bytes wait to be written. */
  writeHighWater?: number;
  /** Peer streams open at once beyond this are refused. */
  maxConcurrentStreams?: number;
  log?: Logger;
}

export type ResolvedOptions = Required<Omit<SpdySessionOptions, "onStream" | "log">>;

export function resolveOptions(options: SpdySessionOptions): ResolvedOptions {
  return {
    server: options.server,
    idleTimeoutMs: options.idleTimeoutMs ?? 0,
    peerFlowControl: options.peerFlowControl ?? "auto",
    strictReceiveWindow: options.strictReceiveWindow ?? false,
    maxBufferedInbound: options.maxBufferedInbound ?? 1 << 20,
    writeHighWater: options.writeHighWater ?? 256 * 1024,
    maxConcurrentStreams: options.maxConcurrentStreams ?? 1000,
  };
}
