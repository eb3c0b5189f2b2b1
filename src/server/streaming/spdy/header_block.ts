// SPDY/3 header blocks: the name/value block format and its compression. Each direction of a
// session is one zlib stream primed with the SPDY/3 dictionary; every block is deflated and
// flushed with Z_SYNC_FLUSH, so the contexts must see blocks in frame order. node:zlib does
// the (de)compression; its stream API is asynchronous, so callers serialise the calls.
// Deno 2.9's node:zlib ignores `dictionary` when deflating (inflating honours it): our blocks
// then form a zlib stream without a preset dictionary, which is still valid for every peer
// (Go's zlib reader, like inflate(), only asks for the dictionary when FDICT is set).

import zlib from "node:zlib";
import { SpdyProtocolError } from "./frames.ts";

/** Header names (lower case) to their values (several values travel NUL-separated). */
export type HeaderMap = Record<string, string[]>;

/** The dictionary of the SPDY/3 specification, section 2.6.10.1: length-prefixed tokens */
const DICTIONARY_TOKENS = (
  "options|head|post|put|delete|trace|accept|accept-charset|accept-encoding|" +
  "accept-language|accept-ranges|age|allow|authorization|cache-control|connection|" +
  "content-base|content-encoding|content-language|content-length|content-location|" +
  "content-md5|content-range|content-type|date|etag|expect|expires|from|host|if-match|" +
  "if-modified-since|if-none-match|if-range|if-unmodified-since|last-modified|location|" +
  "max-forwards|pragma|proxy-authenticate|proxy-authorization|range|referer|retry-after|" +
  "server|te|trailer|transfer-encoding|upgrade|user-agent|vary|via|warning|" +
  "www-authenticate|method|get|status|200 OK|version|HTTP/1.1|url|public|set-cookie|" +
  "keep-alive|origin"
).split("|");

/** ...followed by this run of common values, ending (as in the specification) in "enq=0.". */
const DICTIONARY_TAIL = "100101201202205206300302303304305306307402405406407408409410411412413" +
  "414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently" +
  "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not " +
  "Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 " +
  "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif," +
  "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=" +
  "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

function buildDictionary(): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const token of DICTIONARY_TOKENS) {
    const bytes = enc.encode(token);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, bytes.byteLength);
    parts.push(len, bytes);
  }
  parts.push(enc.encode(DICTIONARY_TAIL));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export const SPDY3_DICTIONARY: Uint8Array = buildDictionary();

/** The uncompressed block: count, then length-prefixed names and NUL-joined values. */
export function encodeHeaderBlock(headers: Record<string, string | string[]>): Uint8Array {
  const enc = new TextEncoder();
  const pairs = Object.entries(headers).map(([name, value]) => [
    enc.encode(name.toLowerCase()),
    enc.encode((Array.isArray(value) ? value : [value]).join("\0")),
  ]);
  const size = 4 + pairs.reduce((n, [k, v]) => n + 8 + k.byteLength + v.byteLength, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, pairs.length);
  let at = 4;
  for (const [k, v] of pairs) {
    view.setUint32(at, k.byteLength);
    out.set(k, at + 4);
    at += 4 + k.byteLength;
    view.setUint32(at, v.byteLength);
    out.set(v, at + 4);
    at += 4 + v.byteLength;
  }
  return out;
}

/** Parses an uncompressed block; names must be non-empty, lower case and unique. */
export function decodeHeaderBlock(block: Uint8Array): HeaderMap {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const dec = new TextDecoder("utf-8", { fatal: false });
  const need = (at: number, n: number) => {
    if (at + n > block.byteLength) throw new SpdyProtocolError("header block is truncated");
  };
  need(0, 4);
  const count = view.getUint32(0);
  const headers: HeaderMap = {};
  let at = 4;
  for (let i = 0; i < count; i++) {
    need(at, 4);
    const nameLen = view.getUint32(at);
    need(at + 4, nameLen + 4);
    const name = dec.decode(block.subarray(at + 4, at + 4 + nameLen));
    at += 4 + nameLen;
    const valueLen = view.getUint32(at);
    need(at + 4, valueLen);
    const value = dec.decode(block.subarray(at + 4, at + 4 + valueLen));
    at += 4 + valueLen;
    if (name === "") throw new SpdyProtocolError("header with an empty name");
    if (name !== name.toLowerCase()) {
      throw new SpdyProtocolError(`header name ${name} is not lower case`);
    }
    if (name in headers) throw new SpdyProtocolError(`header ${name} appears twice`);
    headers[name] = value.split("\0");
  }
  return headers;
}

/**
 * Runs one chunk through a zlib stream and collects what it emits up to a sync flush. A zlib
 * error breaks the context for good (later blocks depend on it): the stream is destroyed
 * and every later call fails too.
 */
function syncFlush(
  stream: zlib.Deflate | zlib.Inflate,
  input: Uint8Array,
  limit: number,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed) {
      return reject(new SpdyProtocolError("header compression context is broken"));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.byteLength;
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      stream.off("data", onData);
      stream.destroy();
      reject(new SpdyProtocolError(`header block (de)compression failed: ${err.message}`));
    };
    stream.on("data", onData);
    stream.on("error", fail);
    try {
      stream.write(input);
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (settled) return;
        settled = true;
        stream.off("data", onData);
        stream.off("error", fail);
        if (size > limit) reject(new SpdyProtocolError(`header block larger than ${limit} bytes`));
        else resolve(new Uint8Array(Buffer.concat(chunks)));
      });
    } catch (err) {
      fail(err as Error);
    }
  });
}

/**
 * Node's zlib may report an error after the flush callback of the same write: a permanent
 * listener keeps such late reports from becoming uncaught errors (the garbage block has
 * already failed to parse by then, which ends the session).
 */
function quiet<T extends zlib.Deflate | zlib.Inflate>(stream: T): T {
  stream.on("error", () => {});
  return stream;
}

/** One direction's compression context. Calls must be made one at a time, in frame order. */
export class HeaderCompressor {
  private readonly deflate = quiet(zlib.createDeflate({
    dictionary: SPDY3_DICTIONARY,
    level: zlib.constants.Z_DEFAULT_COMPRESSION,
  }));
  compress(headers: Record<string, string | string[]>): Promise<Uint8Array> {
    return syncFlush(this.deflate, encodeHeaderBlock(headers), Infinity);
  }
  close(): void {
    this.deflate.destroy();
  }
}

/** One direction's decompression context. Calls must be made one at a time, in frame order. */
export class HeaderDecompressor {
  private readonly inflate = quiet(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }));
  constructor(private readonly maxBlock = 256 * 1024) {}
  async decompress(compressed: Uint8Array): Promise<HeaderMap> {
    if (compressed.byteLength === 0) return {};
    return decodeHeaderBlock(await syncFlush(this.inflate, compressed, this.maxBlock));
  }
  close(): void {
    this.inflate.destroy();
  }
}
