// SPDY/3.1 flow-control bookkeeping of one session: the peer's windows for what we send
// (per stream and for the session), and the window updates we owe the peer as our readers
// consume. Pure state; the session turns its answers into frames.

import { DEFAULT_WINDOW, MAX_WINDOW, SpdyProtocolError } from "./frames.ts";
import type { SpdyStream } from "./stream.ts";

export type PeerFlowControl = "auto" | "on" | "off";

export class FlowControl {
  peerInitialWindow = DEFAULT_WINDOW;
  sessionSendWindow = DEFAULT_WINDOW;
  private sessionUnacked = 0;
  private enforced: boolean;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly mode: PeerFlowControl,
    /** Our receive windows: per stream, and for the session. */
    private readonly receive: { stream: number; session: number } = {
      stream: DEFAULT_WINDOW,
      session: DEFAULT_WINDOW,
    },
  ) {
    this.enforced = mode === "on";
  }

  /** Whether the peer's windows currently hold back what we send. */
  get enforcing(): boolean {
    return this.enforced;
  }

  /** The peer showed it does flow control (WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE). */
  sawPeerFlowControl(): void {
    if (this.mode === "auto" && !this.enforced) {
      this.enforced = true;
      this.wake();
    }
  }

  /**
   * How many of `wanted` bytes may go out on `stream` now, waiting while its window or the
   * session's is exhausted (only when enforcing). Takes them from both windows.
   */
  async take(stream: SpdyStream, wanted: number, gone: () => boolean): Promise<number> {
    while (
      this.enforced && !gone() && (stream.sendWindow <= 0 || this.sessionSendWindow <= 0)
    ) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    const n = this.enforced
      ? Math.max(0, Math.min(wanted, stream.sendWindow, this.sessionSendWindow))
      : wanted;
    stream.sendWindow -= n;
    this.sessionSendWindow -= n;
    return n;
  }

  /** A WINDOW_UPDATE arrived; false when it would overflow the stream's window. */
  grant(stream: SpdyStream | undefined, streamId: number, delta: number): boolean {
    this.sawPeerFlowControl();
    if (streamId === 0) {
      if (this.sessionSendWindow + delta > MAX_WINDOW) {
        throw new SpdyProtocolError("session window grew beyond 2^31-1");
      }
      this.sessionSendWindow += delta;
    } else if (stream) {
      if (stream.sendWindow + delta > MAX_WINDOW) return false;
      stream.sendWindow += delta;
    }
    this.wake();
    return true;
  }

  /** SETTINGS_INITIAL_WINDOW_SIZE: every open stream's window moves by the difference. */
  setInitialWindow(value: number, streams: Iterable<SpdyStream>): void {
    if (value > MAX_WINDOW) throw new SpdyProtocolError("initial window too large");
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    for (const s of streams) s.sendWindow += delta;
    this.sawPeerFlowControl();
  }

  /**
   * `n` received bytes were consumed. Returns the window updates to send: for the stream
   * (when it still receives) and for the session, each once half a window has built up.
   */
  consumed(stream: SpdyStream | undefined, n: number): { stream?: number; session?: number } {
    const out: { stream?: number; session?: number } = {};
    if (stream && !stream.remoteClosed) {
      stream.unacked += n;
      if (stream.unacked >= this.receive.stream / 2) {
        out.stream = stream.unacked;
        stream.recvWindow += stream.unacked;
        stream.unacked = 0;
      }
    }
    this.sessionUnacked += n;
    if (this.sessionUnacked >= this.receive.session / 2) {
      out.session = this.sessionUnacked;
      this.sessionUnacked = 0;
    }
    return out;
  }

  /** Releases every writer waiting for window (a stream ended, or the session did). */
  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
