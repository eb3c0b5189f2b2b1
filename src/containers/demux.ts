// Docker's multiplexed stream format (attach, exec and logs of containers without a tty):
// frames of an 8-byte header (stream type 0 stdin, 1 stdout, 2 stderr; three zero bytes; a
// big-endian uint32 length) followed by that many bytes. Written here rather than using
// dockerode's demuxStream because that one writes to Node streams without waiting, and the
// kubelet API's streams need backpressure. Pure: feed chunks, get frames.

export interface Frame {
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

export class Demuxer {
  #buf = new Uint8Array(0);

  /** Frames completed by `chunk`; a frame split across chunks comes out once whole. */
  push(chunk: Uint8Array): Frame[] {
    const buf = this.#buf.length ? concat(this.#buf, chunk) : chunk;
    const frames: Frame[] = [];
    let at = 0;
    while (buf.length - at >= 8) {
      const type = buf[at];
      const len = new DataView(buf.buffer, buf.byteOffset + at + 4, 4).getUint32(0);
      if (buf.length - at - 8 < len) break;
      const data = buf.slice(at + 8, at + 8 + len);
      if (type === 1 || type === 2) frames.push({ stream: type === 1 ? "stdout" : "stderr", data });
      at += 8 + len;
    }
    this.#buf = buf.slice(at);
    return frames;
  }

  /** Bytes of an unfinished frame left at the end. */
  get pending(): number {
    return this.#buf.length;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
