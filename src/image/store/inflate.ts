// Gunzip into a small ring of reused output buffers, synchronously, through the native
// handle under node:zlib's Gunzip (`_handle.writeSync`, the call node:zlib's own sync API
// makes; present in the pinned Deno and checked by tests/unit/image_io_test.ts). The
// stream API allocates (and zero-fills) a fresh 1 MiB buffer for every MiB of output and
// leaves the pages to the GC; reusing a dozen buffers saves that CPU and the page faults.
// A buffer comes back into use only when the caller's hold on it (its off-thread hash) is
// over. Multi-member gzip is handled by the native side, as for createGunzip.
// `openInflater` returns undefined when the handle is not there; callers then use the
// stream API.

import zlib from "node:zlib";

interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror?: (message: string, errno: number) => void;
  close(): void;
}

export interface Inflater {
  /**
   * Inflates input[inOff, inOff+inLen) into out[outOff, outOff+outLen); returns how much
   * input it took and output it made. Throws on corrupt data (err.code "Z_…").
   */
  write(
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
    finish?: boolean,
  ): { consumed: number; produced: number };
  close(): void;
}

const CODES: Record<number, string> = { [-2]: "Z_STREAM_ERROR", [-3]: "Z_DATA_ERROR" };
const EMPTY = new Uint8Array(0);

/** A synchronous gunzip over node:zlib's native handle, or undefined when there is none. */
export function openInflater(): Inflater | undefined {
  const stream = zlib.createGunzip() as unknown as {
    _handle?: NativeHandle;
    _writeState?: Uint32Array;
  };
  const handle = stream._handle;
  const state = stream._writeState;
  if (!handle || typeof handle.writeSync !== "function" || !(state instanceof Uint32Array)) {
    return undefined;
  }
  let error: Error | undefined;
  handle.onerror = (message, errno) => {
    const err = new Error(message) as Error & { code?: string; errno?: number };
    err.code = CODES[errno] ?? "Z_DATA_ERROR";
    err.errno = errno;
    error ??= err;
  };
  return {
    write(input, inOff, inLen, out, outOff, outLen, finish = false) {
      const flush = finish ? zlib.constants.Z_FINISH : zlib.constants.Z_NO_FLUSH;
      if (inLen > 0) handle.writeSync(flush, input, inOff, inLen, out, outOff, outLen);
      else handle.writeSync(flush, EMPTY, 0, 0, out, outOff, outLen);
      if (error) throw error;
      return { consumed: inLen - state[1], produced: outLen - state[0] };
    },
    close: () => handle.close(),
  };
}

/** Buffers reused in turn; each waits for the hold put on it when last handed out. */
export class BufferRing {
  #buffers: Uint8Array[];
  #holds: (Promise<unknown> | undefined)[];
  #next = 0;

  /** `count` buffers of `size` bytes, from `backing` at `offset` when given (else new memory). */
  constructor(count: number, size: number, backing?: ArrayBufferLike, offset = 0) {
    this.#buffers = Array.from(
      { length: count },
      (_, i) => backing ? new Uint8Array(backing, offset + i * size, size) : new Uint8Array(size),
    );
    this.#holds = new Array(count).fill(undefined);
  }

  /** The next buffer, once whatever held it is done. */
  async take(): Promise<{ buf: Uint8Array; index: number }> {
    const index = this.#next;
    this.#next = (this.#next + 1) % this.#buffers.length;
    const hold = this.#holds[index];
    if (hold) await hold;
    this.#holds[index] = undefined;
    return { buf: this.#buffers[index], index };
  }

  /** Puts `buf` in place of buffer `index` (the same memory, handed back by a BYOB read). */
  replace(index: number, buf: Uint8Array): void {
    this.#buffers[index] = buf;
  }

  /** Keeps buffer `index` out of use until `until` settles. */
  hold(index: number, until: Promise<unknown>): void {
    this.#holds[index] = until.catch(() => {});
  }

  /** Settles once no buffer is held. */
  async drain(): Promise<void> {
    await Promise.all(this.#holds);
  }
}
