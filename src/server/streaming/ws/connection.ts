// One server-side WebSocket connection over an upgraded socket (after the 101 response):
// reads frames, puts fragmented messages together, answers pings, does the closing handshake,
// and sends messages with backpressure (a send waits while the socket's buffer is full). Reads
// can be paused so the peer is really held back (read_pause.ts). Messages are handed out as
// views of what arrived: whoever receives one owns it.

import type { Duplex } from "node:stream";
import { pauseReading, resumeReading } from "../read_pause.ts";
import {
  CloseCode,
  closePayload,
  encodeFrame,
  FrameReader,
  Opcode,
  type WsFrame,
  WsProtocolError,
} from "./frames.ts";

export interface WsConnectionOptions {
  /** Largest message accepted (default 16 MiB); larger ones close the connection (1009). */
  maxPayload?: number;
  /** A send waits while more than this many bytes wait in the socket (default 256 KiB). */
  sendHighWater?: number;
  /** After sending a close frame, the socket is destroyed if the peer has not closed by then. */
  closeTimeoutMs?: number;
}

export class WsConnection {
  /** Each complete data message. */
  onMessage?: (data: Uint8Array, binary: boolean) => void;
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;

  private readonly reader: FrameReader;
  private readonly maxPayload: number;
  private readonly highWater: number;
  private readonly closeTimeoutMs: number;
  private fragments: Uint8Array[] = [];
  private fragmentsBinary = false;
  private fragmentsSize = 0;
  private sentClose = false;
  private ended = false;
  private paused = false;
  private closeTimer?: ReturnType<typeof setTimeout>;
  private drainWaiters: (() => void)[] = [];
  private resolveClosed!: () => void;

  constructor(private readonly socket: Duplex, head?: Uint8Array, opts: WsConnectionOptions = {}) {
    this.maxPayload = opts.maxPayload ?? 16 << 20;
    this.reader = new FrameReader(this.maxPayload);
    this.highWater = opts.sendHighWater ?? 256 * 1024;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 5_000;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    (socket as { setNoDelay?: (on: boolean) => unknown }).setNoDelay?.(true);
    socket.on("data", (chunk: Uint8Array) => this.onBytes(chunk));
    socket.on("drain", () => this.wakeWriters());
    socket.once("close", () => this.gone());
    socket.once("end", () => this.gone());
    socket.on("error", () => this.gone());
    if (head && head.byteLength) queueMicrotask(() => this.onBytes(head));
  }

  get open(): boolean {
    return !this.ended && !this.sentClose;
  }

  /** Bytes handed to the socket and not yet written out. */
  get bufferedAmount(): number {
    return this.socket.writableLength ?? 0;
  }

  /** Sends one message made of `parts`; resolves when the socket has room for more. */
  send(binary: boolean, ...parts: Uint8Array[]): Promise<void> {
    if (!this.open) return Promise.reject(new Error("WebSocket closed"));
    this.socket.write(encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, ...parts));
    return this.room();
  }

  /** Resolves when the socket's buffer is below the high-water mark (or the socket is gone). */
  room(): Promise<void> {
    if (this.ended || this.bufferedAmount <= this.highWater) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Stops reading from the socket (the peer's sends back up). */
  pause(): void {
    if (this.paused || this.ended) return;
    this.paused = true;
    pauseReading(this.socket);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.ended) resumeReading(this.socket);
  }

  /** Starts the closing handshake; the socket is destroyed if the peer does not finish it. */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.ended || this.sentClose) return;
    this.sentClose = true;
    this.socket.write(encodeFrame(Opcode.CLOSE, closePayload(code, reason)));
    this.closeTimer = setTimeout(() => this.terminate(), this.closeTimeoutMs);
    this.resume(); // the peer's close frame has to be read
  }

  /** Ends at once, without a closing handshake. */
  terminate(): void {
    this.socket.destroy();
    this.gone();
  }

  private onBytes(chunk: Uint8Array): void {
    if (this.ended) return;
    this.reader.push(chunk);
    try {
      for (let frame = this.reader.next(); frame; frame = this.reader.next()) {
        this.onFrame(frame);
        if (this.ended) return;
      }
    } catch (err) {
      const code = err instanceof WsProtocolError ? err.code : CloseCode.PROTOCOL_ERROR;
      this.close(code, (err as Error).message.slice(0, 120));
      this.socket.end();
    }
  }

  private onFrame(frame: WsFrame): void {
    switch (frame.opcode) {
      case Opcode.PING:
        if (!this.sentClose) this.socket.write(encodeFrame(Opcode.PONG, frame.payload));
        return;
      case Opcode.PONG:
        return;
      case Opcode.CLOSE: {
        if (!this.sentClose) {
          // Echo the peer's code, as the closing handshake asks.
          const code = frame.payload.byteLength >= 2
            ? (frame.payload[0] << 8) | frame.payload[1]
            : CloseCode.NORMAL;
          this.sentClose = true;
          this.socket.write(encodeFrame(Opcode.CLOSE, closePayload(code)));
        }
        this.socket.end();
        this.closeTimer ??= setTimeout(() => this.terminate(), this.closeTimeoutMs);
        return;
      }
      case Opcode.CONTINUATION:
        if (this.fragments.length === 0) throw new WsProtocolError("continuation of nothing");
        return this.fragment(frame.payload, frame.fin);
      default:
        if (this.fragments.length) throw new WsProtocolError("new message inside a fragmented one");
        this.fragmentsBinary = frame.opcode === Opcode.BINARY;
        if (frame.fin) return this.deliver(frame.payload, this.fragmentsBinary);
        return this.fragment(frame.payload, false);
    }
  }

  private fragment(payload: Uint8Array, fin: boolean): void {
    this.fragments.push(payload);
    this.fragmentsSize += payload.byteLength;
    if (this.fragmentsSize > this.maxPayload) {
      throw new WsProtocolError("message exceeds the limit", CloseCode.TOO_BIG);
    }
    if (!fin) return;
    const whole = new Uint8Array(this.fragmentsSize);
    let at = 0;
    for (const f of this.fragments) {
      whole.set(f, at);
      at += f.byteLength;
    }
    this.fragments = [];
    this.fragmentsSize = 0;
    this.deliver(whole, this.fragmentsBinary);
  }

  private deliver(data: Uint8Array, binary: boolean): void {
    if (this.sentClose) return; // after our close frame, data is dropped
    this.onMessage?.(data, binary);
  }

  private wakeWriters(): void {
    if (!this.ended && this.bufferedAmount > this.highWater) return;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  private gone(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.closeTimer);
    if (!this.socket.destroyed) this.socket.destroy();
    this.wakeWriters();
    this.resolveClosed();
  }
}
