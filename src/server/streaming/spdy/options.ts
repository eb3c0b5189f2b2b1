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
  /**
   * What the peer may send on one stream before we grant more (announced with SETTINGS when
   * not the 64 KiB default); updates go out each time half of it has been read.
   */
  receiveWindow?: number;
  /** The same for the whole session (announced with a WINDOW_UPDATE on stream 0). */
  sessionReceiveWindow?: number;
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
    // Larger than SPDY's 64 KiB default: a window update is a frame each way, and at 64 KiB
    // a bulk upload sent two of them (stream and session) for every 32 KiB received. The
    // stream window stays small enough that a few busy streams fit in maxBufferedInbound.
    receiveWindow: options.receiveWindow ?? 256 * 1024,
    sessionReceiveWindow: options.sessionReceiveWindow ?? 8 * 1024 * 1024,
    writeHighWater: options.writeHighWater ?? 256 * 1024,
    maxConcurrentStreams: options.maxConcurrentStreams ?? 1000,
  };
}
