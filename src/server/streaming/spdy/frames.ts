// SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 with the 3.1 session flow control): the
// frame types, their binary encoding, and an incremental reader that turns a byte stream into
// frames and rejects malformed ones. Header blocks stay compressed here (see header_block.ts).
// Hand-written: the npm SPDY packages (spdy, spdy-transport) are unmaintained since 2018-2020
// and enforce flow control that the Go peers (moby/spdystream) never grant, stalling at 64 KiB.

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
export const FLAG_CLEAR_SETTINGS = 0x01;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** SETTINGS ids this implementation acts on. */
export const Setting = { MAX_CONCURRENT_STREAMS: 4, INITIAL_WINDOW_SIZE: 7 } as const;

/** The window every stream and the session start with. */
export const DEFAULT_WINDOW = 65_536;
export const MAX_WINDOW = 0x7fffffff;
/** Largest payload a frame's 24-bit length can carry. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export type Frame =
  | { type: "data"; streamId: number; fin: boolean; data: Uint8Array }
  | {
    type: "syn_stream";
    streamId: number;
    associatedId: number;
    priority: number;
    fin: boolean;
    unidirectional: boolean;
    headerBlock: Uint8Array;
  }
  | { type: "syn_reply"; streamId: number; fin: boolean; headerBlock: Uint8Array }
  | { type: "rst_stream"; streamId: number; status: number }
  | { type: "settings"; clear: boolean; entries: { id: number; flags: number; value: number }[] }
  | { type: "ping"; id: number }
  | { type: "goaway"; lastGoodStreamId: number; status: number }
  | { type: "headers"; streamId: number; fin: boolean; headerBlock: Uint8Array }
  | { type: "window_update"; streamId: number; delta: number }
  | { type: "unknown"; frameType: number };

/** A violation of the framing rules: the session answers with GOAWAY PROTOCOL_ERROR. */
export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(`SPDY protocol error: ${message}`);
    this.name = "SpdyProtocolError";
  }
}

const STREAM_ID_MASK = 0x7fffffff;

function controlFrame(type: number, flags: number, payloadLength: number): Uint8Array {
  if (payloadLength > MAX_FRAME_PAYLOAD) {
    throw new RangeError(`SPDY frame payload of ${payloadLength} bytes is too large`);
  }
  const bytes = new Uint8Array(8 + payloadLength);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, 0x8000 | SPDY_VERSION);
  view.setUint16(2, type);
  view.setUint32(4, (flags << 24) | payloadLength);
  return bytes;
}

/** A control frame whose payload is two 32-bit words (RST_STREAM, GOAWAY, WINDOW_UPDATE). */
function twoWordFrame(type: number, first: number, second: number): Uint8Array {
  const bytes = controlFrame(type, 0, 8);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, first);
  view.setUint32(12, second);
  return bytes;
}

/** The binary form of `frame` ("unknown" frames cannot be encoded). */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case "data": {
      if (frame.data.byteLength > MAX_FRAME_PAYLOAD) {
        throw new RangeError(`SPDY data frame of ${frame.data.byteLength} bytes is too large`);
      }
      const bytes = new Uint8Array(8 + frame.data.byteLength);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, frame.streamId & STREAM_ID_MASK);
      view.setUint32(4, ((frame.fin ? FLAG_FIN : 0) << 24) | frame.data.byteLength);
      bytes.set(frame.data, 8);
      return bytes;
    }
    case "syn_stream": {
      const flags = (frame.fin ? FLAG_FIN : 0) | (frame.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
      const bytes = controlFrame(FrameType.SYN_STREAM, flags, 10 + frame.headerBlock.byteLength);
      const view = new DataView(bytes.buffer);
      view.setUint32(8, frame.streamId & STREAM_ID_MASK);
      view.setUint32(12, frame.associatedId & STREAM_ID_MASK);
      bytes[16] = (frame.priority & 0x7) << 5;
      bytes[17] = 0; // slot (unused since 3.1)
      bytes.set(frame.headerBlock, 18);
      return bytes;
    }
    case "syn_reply":
    case "headers": {
      const type = frame.type === "syn_reply" ? FrameType.SYN_REPLY : FrameType.HEADERS;
      const bytes = controlFrame(type, frame.fin ? FLAG_FIN : 0, 4 + frame.headerBlock.byteLength);
      new DataView(bytes.buffer).setUint32(8, frame.streamId & STREAM_ID_MASK);
      bytes.set(frame.headerBlock, 12);
      return bytes;
    }
    case "rst_stream":
      return twoWordFrame(FrameType.RST_STREAM, frame.streamId & STREAM_ID_MASK, frame.status);
    case "settings": {
      const bytes = controlFrame(
        FrameType.SETTINGS,
        frame.clear ? FLAG_CLEAR_SETTINGS : 0,
        4 + 8 * frame.entries.length,
      );
      const view = new DataView(bytes.buffer);
      view.setUint32(8, frame.entries.length);
      frame.entries.forEach((e, i) => {
        view.setUint32(12 + 8 * i, ((e.flags & 0xff) << 24) | (e.id & 0xffffff));
        view.setUint32(16 + 8 * i, e.value);
      });
      return bytes;
    }
    case "ping": {
      const bytes = controlFrame(FrameType.PING, 0, 4);
      new DataView(bytes.buffer).setUint32(8, frame.id >>> 0);
      return bytes;
    }
    case "goaway":
      return twoWordFrame(
        FrameType.GOAWAY,
        frame.lastGoodStreamId & STREAM_ID_MASK,
        frame.status,
      );
    case "window_update":
      return twoWordFrame(
        FrameType.WINDOW_UPDATE,
        frame.streamId & STREAM_ID_MASK,
        frame.delta & STREAM_ID_MASK,
      );
    case "unknown":
      throw new TypeError("unknown SPDY frames cannot be encoded");
  }
}

/** Exact payload lengths of the fixed-size control frames. */
const FIXED_LENGTH: Record<number, number> = {
  [FrameType.RST_STREAM]: 8,
  [FrameType.PING]: 4,
  [FrameType.GOAWAY]: 8,
  [FrameType.WINDOW_UPDATE]: 8,
};

/**
 * Turns bytes into frames. `push` adds what arrived; `next` returns one complete frame or
 * undefined when more bytes are needed, and throws SpdyProtocolError on a malformed frame.
 */
export class FrameReader {
  private buf = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;

  constructor(private readonly maxControlPayload = 1 << 20) {}

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    if (this.end + chunk.byteLength > this.buf.byteLength) {
      const unread = this.end - this.start;
      const needed = unread + chunk.byteLength;
      if (needed > this.buf.byteLength || this.start === 0) {
        const next = new Uint8Array(Math.max(needed, this.buf.byteLength * 2));
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = unread;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.byteLength;
  }

  next(): Frame | undefined {
    if (this.end - this.start < 8) return undefined;
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.start, 8);
    const first = view.getUint32(0);
    const flags = this.buf[this.start + 4];
    const length = view.getUint32(4) & 0xffffff;
    const control = (first & 0x80000000) !== 0;
    if (control) {
      const version = (first >>> 16) & 0x7fff;
      if (version !== SPDY_VERSION) {
        throw new SpdyProtocolError(`unsupported version ${version} (only SPDY/3.1 is spoken)`);
      }
      if (length > this.maxControlPayload) {
        throw new SpdyProtocolError(`control frame of ${length} bytes exceeds the limit`);
      }
    }
    if (this.end - this.start < 8 + length) return undefined;
    const payload = this.buf.slice(this.start + 8, this.start + 8 + length);
    this.start += 8 + length;
    if (this.start === this.end) {
      this.start = this.end = 0;
      // Give back the memory of an unusually large frame.
      if (this.buf.byteLength > 1 << 20) this.buf = new Uint8Array(64 * 1024);
    }
    if (!control) {
      return {
        type: "data",
        streamId: first & STREAM_ID_MASK,
        fin: (flags & FLAG_FIN) !== 0,
        data: payload,
      };
    }
    return parseControl(first & 0xffff, flags, payload);
  }
}

function parseControl(type: number, flags: number, payload: Uint8Array): Frame {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const fixed = FIXED_LENGTH[type];
  if (fixed !== undefined && payload.byteLength !== fixed) {
    throw new SpdyProtocolError(
      `frame type ${type} with length ${payload.byteLength}, not ${fixed}`,
    );
  }
  const fin = (flags & FLAG_FIN) !== 0;
  const streamId = () => view.getUint32(0) & STREAM_ID_MASK;
  const needStream = (name: string, min: number) => {
    if (payload.byteLength < min) throw new SpdyProtocolError(`${name} frame too short`);
    if (streamId() === 0) throw new SpdyProtocolError(`${name} frame for stream 0`);
  };
  switch (type) {
    case FrameType.SYN_STREAM:
      needStream("SYN_STREAM", 10);
      return {
        type: "syn_stream",
        streamId: streamId(),
        associatedId: view.getUint32(4) & STREAM_ID_MASK,
        priority: payload[8] >> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: payload.subarray(10),
      };
    case FrameType.SYN_REPLY:
      needStream("SYN_REPLY", 4);
      return { type: "syn_reply", streamId: streamId(), fin, headerBlock: payload.subarray(4) };
    case FrameType.HEADERS:
      needStream("HEADERS", 4);
      return { type: "headers", streamId: streamId(), fin, headerBlock: payload.subarray(4) };
    case FrameType.RST_STREAM:
      needStream("RST_STREAM", 8);
      return { type: "rst_stream", streamId: streamId(), status: view.getUint32(4) };
    case FrameType.SETTINGS: {
      if (payload.byteLength < 4) throw new SpdyProtocolError("SETTINGS frame too short");
      const count = view.getUint32(0);
      if (payload.byteLength !== 4 + 8 * count) {
        throw new SpdyProtocolError(`SETTINGS frame with ${count} entries has the wrong length`);
      }
      const entries = [];
      for (let i = 0; i < count; i++) {
        const head = view.getUint32(4 + 8 * i);
        entries.push({ flags: head >>> 24, id: head & 0xffffff, value: view.getUint32(8 + 8 * i) });
      }
      return { type: "settings", clear: (flags & FLAG_CLEAR_SETTINGS) !== 0, entries };
    }
    case FrameType.PING:
      return { type: "ping", id: view.getUint32(0) };
    case FrameType.GOAWAY:
      return { type: "goaway", lastGoodStreamId: streamId(), status: view.getUint32(4) };
    case FrameType.WINDOW_UPDATE:
      return {
        type: "window_update",
        streamId: streamId(),
        delta: view.getUint32(4) & STREAM_ID_MASK,
      };
    default:
      // Unknown control frames are ignored, as the specification requires.
      return { type: "unknown", frameType: type };
  }
}
