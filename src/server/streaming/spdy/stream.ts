// One SPDY stream: its headers, its two half-closed states, its flow-control windows, and the
// web streams the rest of the server uses (`readable` for what the peer sends, `writable` for
// what we send). Reading is pull-based: bytes leave the inbound queue only when a reader
// asks, and only then does the session grant the peer more window.

import { type HeaderMap } from "./header_block.ts";
import { RstStatus } from "./frames.ts";

/** What a stream needs from its session. */
export interface StreamOwner {
  sendData(stream: SpdyStream, data: Uint8Array, fin: boolean): Promise<void>;
  sendReply(
    stream: SpdyStream,
    headers: Record<string, string | string[]>,
    fin: boolean,
  ): Promise<void>;
  sendReset(stream: SpdyStream, status: number): void;
  /** `n` inbound bytes were taken by the reader (or dropped): window and buffer accounting. */
  consumed(stream: SpdyStream, n: number): void;
  /** Both halves are closed, or the stream was reset: forget it. */
  forget(stream: SpdyStream): void;
}

/** The stream ended abnormally: reset by either side, or the session went away. */
export class SpdyStreamError extends Error {
  constructor(readonly streamId: number, readonly status: number | undefined, message: string) {
    super(`SPDY stream ${streamId}: ${message}`);
    this.name = "SpdyStreamError";
  }
}

export class SpdyStream {
  /** Peer's window for what we send; may go negative after a SETTINGS change. */
  sendWindow: number;
  /** What the peer may still send us before we grant more. */
  recvWindow: number;
  /** Inbound bytes consumed since the last WINDOW_UPDATE we sent. */
  unacked = 0;
  /** Remote-initiated: we sent SYN_REPLY. Local: we received it. */
  replied = false;
  localClosed = false;
  remoteClosed = false;
  failure?: SpdyStreamError;

  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves once the stream is fully closed or reset. */
  readonly closed: Promise<void>;

  private inbound: Uint8Array[] = [];
  private inboundSize = 0;
  private discarding = false;
  private wake?: () => void;
  private replyWaiters: (() => void)[] = [];
  private resolveClosed!: () => void;
  private forgotten = false;

  constructor(
    readonly id: number,
    public headers: HeaderMap,
    readonly local: boolean,
    private readonly owner: StreamOwner,
    windows: { send: number; recv: number },
  ) {
    this.sendWindow = windows.send;
    this.recvWindow = windows.recv;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      pull: (controller) => this.pull(controller),
      cancel: () => this.discard(),
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.owner.sendData(this, chunk, false),
      close: () => this.end(),
      abort: () => this.reset(RstStatus.CANCEL),
    });
  }

  /** The first value of header `name` (lower case), if present. */
  header(name: string): string | undefined {
    return this.headers[name]?.[0];
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.inboundSize;
  }

  /** Accepts a peer-initiated stream (SYN_REPLY). */
  async reply(headers: Record<string, string | string[]> = {}, fin = false): Promise<void> {
    if (this.local) throw new Error(`SPDY stream ${this.id}: only the peer's streams get replies`);
    if (this.replied) return;
    this.replied = true;
    if (fin) this.localClosed = true;
    await this.owner.sendReply(this, headers, fin);
    if (fin) this.maybeForget();
  }

  /** Half-closes our side (FIN). Idempotent. */
  async end(): Promise<void> {
    if (this.localClosed || this.failure) return;
    if (!this.local && !this.replied) return await this.reply({}, true);
    this.localClosed = true;
    await this.owner.sendData(this, new Uint8Array(0), true);
    this.maybeForget();
  }

  /** Aborts both directions (RST_STREAM). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.failure || (this.localClosed && this.remoteClosed)) return;
    this.owner.sendReset(this, status);
    this.fail(new SpdyStreamError(this.id, status, `reset by us (status ${status})`));
  }

  /** Waits for the peer's SYN_REPLY (streams we opened). */
  waitReply(): Promise<void> {
    if (this.replied) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.replyWaiters.push(() => (this.failure ? reject(this.failure) : resolve()));
    });
  }

  // ---- called by the session ----

  receive(data: Uint8Array, fin: boolean): void {
    if (data.byteLength > 0) {
      if (this.discarding) this.owner.consumed(this, data.byteLength);
      else {
        this.inbound.push(data);
        this.inboundSize += data.byteLength;
      }
    }
    if (fin) this.remoteClosed = true;
    this.wakeReader();
    if (fin) this.maybeForget();
  }

  gotReply(): void {
    this.replied = true;
    for (const w of this.replyWaiters.splice(0)) w();
  }

  /** Ends the stream with `err`: readers and writers see it. */
  fail(err: SpdyStreamError): void {
    if (this.failure) return;
    this.failure = err;
    const dropped = this.inboundSize;
    this.inbound = [];
    this.inboundSize = 0;
    if (dropped) this.owner.consumed(this, dropped);
    this.wakeReader();
    for (const w of this.replyWaiters.splice(0)) w();
    this.writable.abort(err).catch(() => {});
    this.forget();
  }

  // ---- internals ----

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      const chunk = this.inbound.shift();
      if (chunk) {
        this.inboundSize -= chunk.byteLength;
        controller.enqueue(chunk);
        this.owner.consumed(this, chunk.byteLength);
        return;
      }
      if (this.failure) {
        // A reset after the peer finished sending is not an error for the reader.
        if (this.remoteClosed) controller.close();
        else controller.error(this.failure);
        return;
      }
      if (this.remoteClosed) return controller.close();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private discard(): void {
    this.discarding = true;
    const dropped = this.inboundSize;
    this.inbound = [];
    this.inboundSize = 0;
    if (dropped) this.owner.consumed(this, dropped);
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private maybeForget(): void {
    if (this.localClosed && this.remoteClosed) this.forget();
  }

  private forget(): void {
    if (this.forgotten) return;
    this.forgotten = true;
    this.owner.forget(this);
    this.resolveClosed();
  }
}
