// One SPDY/3.1 session over a byte stream (the upgraded TLS socket): reads and dispatches
// frames, keeps the stream table, writes frames in order through one output queue, and does
// flow control both ways, PING, GOAWAY, RST_STREAM and the idle timeout.
//
// Flow control and the Go peers: kube-apiserver and kubectl speak SPDY through
// moby/spdystream, which never sends WINDOW_UPDATE and ignores the windows it is given; it
// relies on TCP backpressure alone. So by default ("auto") the peer's windows are only
// enforced once the peer has shown it does flow control (a WINDOW_UPDATE or an initial-window
// SETTINGS); until then, and always, writers wait while the socket is full. Our own receive
// windows are granted back as the reader consumes, and the socket is paused while too much
// received data waits unread, so memory stays bounded with either kind of peer.

import type { Duplex } from "node:stream";
import type { Logger } from "../../../telemetry/log.ts";
import {
  DEFAULT_WINDOW,
  encodeFrame,
  type Frame,
  FrameReader,
  GoAwayStatus,
  RstStatus,
  Setting,
  SpdyProtocolError,
} from "./frames.ts";
import { FlowControl } from "./flow.ts";
import { type ResolvedOptions, resolveOptions, type SpdySessionOptions } from "./options.ts";

export type { SpdySessionOptions } from "./options.ts";
import { HeaderCompressor, HeaderDecompressor } from "./header_block.ts";
import { SpdyStream, SpdyStreamError, type StreamOwner } from "./stream.ts";
import { createOutput, type Output } from "./output.ts";
import { IdleTimer } from "../idle.ts";
import { pauseReading, resumeReading } from "../read_pause.ts";

const MAX_DATA_FRAME = 32 * 1024;

export class SpdySession implements StreamOwner {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly reader = new FrameReader();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly output: Output;
  private readonly opts: ResolvedOptions;
  private nextLocalId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private readonly flow: FlowControl;
  private inboundBuffered = 0;
  private paused = false;
  private processing = false;
  private pings = new Map<number, () => void>();
  private recentlyReset = new Set<number>();
  private sentGoAway = false;
  private peerGoneAway = false;
  private readonly idle: IdleTimer;
  private ended = false;
  private resolveClosed!: () => void;
  /** Resolves when the socket has closed and every stream has ended. */
  readonly closed: Promise<void>;

  constructor(private readonly socket: Duplex, options: SpdySessionOptions, head?: Uint8Array) {
    this.opts = resolveOptions(options);
    this.onStream = options.onStream;
    this.log = options.log;
    this.nextLocalId = options.server ? 2 : 1;
    this.nextPingId = options.server ? 2 : 1;
    this.flow = new FlowControl(this.opts.peerFlowControl, {
      stream: this.opts.receiveWindow,
      session: this.opts.sessionReceiveWindow,
    });
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.idle = new IdleTimer(this.opts.idleTimeoutMs, (idleMs) => {
      this.log?.info("SPDY session idle, closing", { idleMs });
      this.goAway();
      void this.output.flushed().finally(() => this.destroy("idle timeout"));
    });
    this.output = createOutput(socket, this.opts.writeHighWater, () => this.touch());
    // Window updates and replies are small frames the peer waits for: with Nagle's
    // algorithm each would sit out a delayed ACK (~40 ms), capping a stream near 1.5 MB/s.
    (socket as { setNoDelay?: (on: boolean) => unknown }).setNoDelay?.(true);
    socket.on("data", (chunk: Uint8Array) => this.onBytes(chunk));
    socket.once("close", () => this.onSocketGone("connection closed"));
    socket.once("end", () => this.onSocketGone("connection ended by the peer"));
    socket.on("error", (err: Error) => this.onSocketGone(`connection failed: ${err.message}`));
    this.announceWindows();
    if (head && head.byteLength) this.onBytes(head);
  }

  private readonly onStream?: (stream: SpdyStream) => void;
  private readonly log?: Logger;

  /** Open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Opens a stream (SYN_STREAM) and waits for the peer's SYN_REPLY. */
  async openStream(headers: Record<string, string | string[]>, fin = false): Promise<SpdyStream> {
    if (this.ended || this.sentGoAway || this.peerGoneAway) {
      throw new Error("SPDY session is going away: no new streams");
    }
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    const stream = new SpdyStream(id, {}, true, this, {
      send: this.flow.peerInitialWindow,
      recv: this.opts.receiveWindow,
    });
    if (fin) stream.localClosed = true;
    this.streams.set(id, stream);
    this.output.push(async () =>
      encodeFrame({
        type: "syn_stream",
        streamId: id,
        associatedId: 0,
        priority: 0,
        fin,
        unidirectional: false,
        headerBlock: await this.compressor.compress(headers),
      })
    );
    await stream.waitReply();
    return stream;
  }

  /** Round-trip time of a PING, in milliseconds. */
  ping(): Promise<number> {
    const id = this.nextPingId;
    this.nextPingId += 2;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      if (this.ended) return reject(new Error("SPDY session closed"));
      this.pings.set(id, () => resolve(performance.now() - started));
      this.output.push(encodeFrame({ type: "ping", id }));
    });
  }

  /** Sends GOAWAY: the peer may open no more streams; open ones carry on. */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.sentGoAway || this.ended) return;
    this.sentGoAway = true;
    this.output.push(
      encodeFrame({ type: "goaway", lastGoodStreamId: this.lastPeerStreamId, status }),
    );
  }

  /** GOAWAY, write out everything queued, half-close, and wait (at most `graceMs`) for the end. */
  async close(graceMs = 5_000): Promise<void> {
    this.goAway();
    await this.output.flushed();
    if (!this.ended) this.socket.end();
    const timer = setTimeout(() => this.destroy(), graceMs);
    await this.closed;
    clearTimeout(timer);
  }

  /** Ends the session at once: the socket is destroyed and every stream fails. */
  destroy(reason = "SPDY session destroyed"): void {
    this.socket.destroy();
    this.onSocketGone(reason);
  }

  // ---- StreamOwner ----

  async sendData(stream: SpdyStream, data: Uint8Array, fin: boolean): Promise<void> {
    let offset = 0;
    do {
      if (stream.failure) throw stream.failure;
      if (this.ended) throw new SpdyStreamError(stream.id, undefined, "session closed");
      if (!stream.local && !stream.replied) await stream.reply();
      await this.output.room();
      let n = Math.min(data.byteLength - offset, MAX_DATA_FRAME);
      if (n > 0) {
        n = await this.flow.take(stream, n, () => this.ended || stream.failure !== undefined);
        if (stream.failure) throw stream.failure;
        if (n === 0) continue;
      }
      const last = offset + n >= data.byteLength;
      this.output.push(encodeFrame({
        type: "data",
        streamId: stream.id,
        fin: fin && last,
        data: data.subarray(offset, offset + n),
      }));
      offset += n;
    } while (offset < data.byteLength);
  }

  async sendReply(stream: SpdyStream, headers: Record<string, string | string[]>, fin: boolean) {
    this.output.push(async () =>
      encodeFrame({
        type: "syn_reply",
        streamId: stream.id,
        fin,
        headerBlock: await this.compressor.compress(headers),
      })
    );
    await Promise.resolve();
  }

  sendReset(stream: SpdyStream, status: number): void {
    this.recentlyReset.add(stream.id);
    if (!this.ended) {
      this.output.push(encodeFrame({ type: "rst_stream", streamId: stream.id, status }));
    }
  }

  consumed(stream: SpdyStream, n: number): void {
    this.inboundBuffered -= n;
    this.ack(this.streams.get(stream.id), n);
    this.updatePause();
  }

  forget(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.flow.wake();
    if (this.ended && this.streams.size === 0) this.resolveClosed();
  }

  // ---- inbound ----

  private onBytes(chunk: Uint8Array): void {
    if (this.ended) return;
    this.touch();
    this.reader.push(chunk);
    this.updatePause();
    void this.processFrames();
  }

  private async processFrames(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      for (;;) {
        if (this.ended) return;
        const frame = this.reader.next();
        if (!frame) break;
        const pending = this.handleFrame(frame);
        if (pending) await pending;
      }
    } catch (err) {
      const protocol = err instanceof SpdyProtocolError;
      this.log?.warn("SPDY session ended on an error", { error: err });
      this.goAway(protocol ? GoAwayStatus.PROTOCOL_ERROR : GoAwayStatus.INTERNAL_ERROR);
      await this.output.flushed().catch(() => {});
      this.destroy((err as Error).message);
    } finally {
      this.processing = false;
      this.updatePause();
    }
  }

  private handleFrame(frame: Frame): Promise<void> | void {
    switch (frame.type) {
      case "data":
        return this.onData(frame.streamId, frame.data, frame.fin);
      case "syn_stream":
        return this.onSynStream(frame);
      case "syn_reply":
        return this.onSynReply(frame.streamId, frame.headerBlock, frame.fin);
      case "headers":
        return this.onHeaders(frame.streamId, frame.headerBlock, frame.fin);
      case "rst_stream": {
        const stream = this.streams.get(frame.streamId);
        this.recentlyReset.add(frame.streamId);
        stream?.fail(
          new SpdyStreamError(
            frame.streamId,
            frame.status,
            `reset by the peer (status ${frame.status})`,
          ),
        );
        return;
      }
      case "settings":
        for (const e of frame.entries) {
          if (e.id === Setting.INITIAL_WINDOW_SIZE) {
            this.flow.setInitialWindow(e.value, this.streams.values());
          }
        }
        return;
      case "ping":
        if ((frame.id % 2 === 0) === this.opts.server) {
          this.pings.get(frame.id)?.();
          this.pings.delete(frame.id);
        } else {
          this.output.push(encodeFrame(frame));
        }
        return;
      case "goaway":
        this.peerGoneAway = true;
        for (const s of this.streams.values()) {
          if (s.local && s.id > frame.lastGoodStreamId) {
            s.fail(
              new SpdyStreamError(s.id, RstStatus.REFUSED_STREAM, "refused: peer is going away"),
            );
          }
        }
        return;
      case "window_update":
        return this.onWindowUpdate(frame.streamId, frame.delta);
      case "unknown":
        return;
    }
  }

  private onData(id: number, data: Uint8Array, fin: boolean): void {
    const stream = this.streams.get(id);
    if (!stream) {
      // Data in flight when a stream was reset is expected; anything else is not.
      if (!this.recentlyReset.has(id)) this.resetId(id, RstStatus.INVALID_STREAM);
      this.ack(undefined, data.byteLength);
      return;
    }
    if (stream.remoteClosed) return stream.reset(RstStatus.STREAM_ALREADY_CLOSED);
    stream.recvWindow -= data.byteLength;
    if (stream.recvWindow < 0 && this.opts.strictReceiveWindow) {
      return stream.reset(RstStatus.FLOW_CONTROL_ERROR);
    }
    this.inboundBuffered += data.byteLength;
    stream.receive(data, fin);
  }

  private async onSynStream(frame: Extract<Frame, { type: "syn_stream" }>): Promise<void> {
    // Always decompress: the zlib context must see every block, even of refused streams.
    const headers = await this.decompressor.decompress(frame.headerBlock);
    const id = frame.streamId;
    if ((id % 2 === 0) === this.opts.server || id <= this.lastPeerStreamId) {
      throw new SpdyProtocolError(`SYN_STREAM with invalid stream id ${id}`);
    }
    this.lastPeerStreamId = id;
    const stream = new SpdyStream(id, headers, false, this, {
      send: this.flow.peerInitialWindow,
      recv: this.opts.receiveWindow,
    });
    if (frame.unidirectional) stream.localClosed = true;
    if (this.sentGoAway || !this.onStream || this.streams.size >= this.opts.maxConcurrentStreams) {
      return this.resetId(id, RstStatus.REFUSED_STREAM);
    }
    this.streams.set(id, stream);
    if (frame.fin) stream.receive(new Uint8Array(0), true);
    this.onStream(stream);
  }

  private async onSynReply(id: number, block: Uint8Array, fin: boolean): Promise<void> {
    const headers = await this.decompressor.decompress(block);
    const stream = this.streams.get(id);
    if (!stream || !stream.local) return;
    if (stream.replied) return stream.reset(RstStatus.STREAM_IN_USE);
    stream.headers = headers;
    stream.gotReply();
    if (fin) stream.receive(new Uint8Array(0), true);
  }

  private async onHeaders(id: number, block: Uint8Array, fin: boolean): Promise<void> {
    const headers = await this.decompressor.decompress(block);
    const stream = this.streams.get(id);
    if (!stream) return;
    stream.headers = { ...stream.headers, ...headers };
    if (fin) stream.receive(new Uint8Array(0), true);
  }

  private onWindowUpdate(id: number, delta: number): void {
    const stream = this.streams.get(id);
    if (!this.flow.grant(stream, id, delta) && stream) {
      stream.reset(RstStatus.FLOW_CONTROL_ERROR);
    }
  }

  // ---- helpers ----

  /** Window updates owed for `n` consumed bytes (stream undefined: session only). */
  private ack(stream: SpdyStream | undefined, n: number): void {
    const updates = this.flow.consumed(stream, n);
    if (updates.stream && stream) this.windowUpdate(stream.id, updates.stream);
    if (updates.session) this.windowUpdate(0, updates.session);
  }

  private windowUpdate(streamId: number, delta: number): void {
    if (!this.ended) this.output.push(encodeFrame({ type: "window_update", streamId, delta }));
  }

  /** Tells the peer our receive windows where they differ from SPDY's defaults. */
  private announceWindows(): void {
    if (this.opts.receiveWindow !== DEFAULT_WINDOW) {
      this.output.push(encodeFrame({
        type: "settings",
        clear: false,
        entries: [{ id: Setting.INITIAL_WINDOW_SIZE, flags: 0, value: this.opts.receiveWindow }],
      }));
    }
    if (this.opts.sessionReceiveWindow > DEFAULT_WINDOW) {
      this.windowUpdate(0, this.opts.sessionReceiveWindow - DEFAULT_WINDOW);
    }
  }

  private resetId(id: number, status: number): void {
    this.recentlyReset.add(id);
    if (this.recentlyReset.size > 1024) {
      this.recentlyReset.delete(this.recentlyReset.values().next().value!);
    }
    this.output.push(encodeFrame({ type: "rst_stream", streamId: id, status }));
  }

  private updatePause(): void {
    if (this.ended) return;
    const backlog = this.inboundBuffered + this.reader.buffered;
    if (!this.paused && backlog > this.opts.maxBufferedInbound) {
      this.paused = true;
      pauseReading(this.socket);
    } else if (this.paused && backlog <= this.opts.maxBufferedInbound / 2) {
      this.paused = false;
      resumeReading(this.socket);
    }
  }

  private touch(): void {
    this.idle.touch();
  }

  private onSocketGone(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.idle.stop();
    this.output.fail(new Error(reason));
    this.compressor.close();
    this.decompressor.close();
    for (const s of [...this.streams.values()]) {
      s.fail(new SpdyStreamError(s.id, undefined, reason));
    }
    this.flow.wake();
    for (const p of this.pings.values()) p();
    this.pings.clear();
    if (this.streams.size === 0) this.resolveClosed();
  }
}
