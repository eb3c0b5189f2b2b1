// A loopback HTTP proxy in front of the real test registry that misbehaves on purpose:
// cuts blob responses after some bytes, stops answering mid-blob (the connection stays
// open, no more bytes come), flips a byte in blobs, slows blobs down, redirects
// blob downloads to a second origin ("blob storage"), or demands bearer tokens from its
// own token endpoint. It records what it saw so tests can assert on it.

export interface ProxyOptions {
  upstream: string;
  /** Error every blob response body after this many bytes (per response). */
  cutAfter?: number;
  /** Cut only this many responses (then behave). */
  cutTimes?: number;
  /** Stop sending a blob body after this many bytes, keeping the connection open. */
  stallAfter?: number;
  /** Stall only this many responses (then behave). */
  stallTimes?: number;
  /** Leave blob responses shorter than this alone (e.g. to spare the config blob). */
  minBlobBytes?: number;
  /** Flip the byte at this offset of every blob body. */
  flipAt?: number;
  /** Delay (ms) before each 64 KiB of a blob body. */
  slowMs?: number;
  /** Answer blob GETs with a 307 to a storage origin that serves them without auth. */
  redirectBlobs?: boolean;
  /** Registry the storage origin reads from (default: upstream). */
  storageUpstream?: string;
  /** Require `Bearer` tokens from /token, issued for these basic credentials. */
  bearer?: { username: string; password: string };
}

export interface SeenRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface Proxy {
  host: string;
  seen: SeenRequest[];
  /** Requests the storage origin received (with redirectBlobs). */
  storageSeen: SeenRequest[];
  cuts: number;
  stalls: number;
  close(): Promise<void>;
}

const PIECE = 64 * 1024;

function isBlobGet(req: Request, url: URL): boolean {
  return req.method === "GET" && /\/blobs\/sha256:/.test(url.pathname);
}

function mangle(
  body: ReadableStream<Uint8Array>,
  opts: ProxyOptions,
  onCut: () => boolean,
  onStall: () => boolean,
  silent: Set<() => void>,
) {
  let sent = 0;
  const reader = body.getReader();
  let pending: Uint8Array | undefined;
  let release: (() => void) | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = pending;
      pending = undefined;
      if (!chunk) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        chunk = value;
      }
      if (chunk.length > PIECE) {
        pending = chunk.subarray(PIECE);
        chunk = chunk.subarray(0, PIECE);
      }
      if (opts.slowMs) await new Promise((r) => setTimeout(r, opts.slowMs));
      if (opts.cutAfter !== undefined && sent + chunk.length > opts.cutAfter && onCut()) {
        controller.enqueue(chunk.slice(0, Math.max(0, opts.cutAfter - sent)));
        await reader.cancel();
        controller.error(new Error("cut by test proxy"));
        return;
      }
      if (opts.stallAfter !== undefined && sent + chunk.length > opts.stallAfter && onStall()) {
        controller.enqueue(chunk.slice(0, Math.max(0, opts.stallAfter - sent)));
        // Silent until the client gives up (or the proxy closes).
        await new Promise<void>((r) => silent.add(release = r));
        await reader.cancel();
        return;
      }
      if (opts.flipAt !== undefined && opts.flipAt >= sent && opts.flipAt < sent + chunk.length) {
        chunk = chunk.slice();
        chunk[opts.flipAt - sent] ^= 0xff;
      }
      sent += chunk.length;
      controller.enqueue(chunk);
    },
    cancel: (r) => {
      release?.();
      return reader.cancel(r);
    },
  });
}

function seenOf(req: Request, url: URL): SeenRequest {
  return {
    method: req.method,
    path: url.pathname,
    range: req.headers.get("range") ?? undefined,
    authorization: req.headers.get("authorization") ?? undefined,
  };
}

async function forward(
  req: Request,
  url: URL,
  upstream: string,
  strip: boolean,
): Promise<Response> {
  const headers = new Headers(req.headers);
  headers.delete("host");
  if (strip) headers.delete("authorization");
  const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
  return await fetch(`http://${upstream}${url.pathname}${url.search}`, {
    method: req.method,
    headers,
    body,
    redirect: "manual",
  });
}

export function startProxy(opts: ProxyOptions): Proxy {
  const seen: SeenRequest[] = [];
  const storageSeen: SeenRequest[] = [];
  const tokens = new Set<string>();
  const state = { cuts: 0, stalls: 0 };
  const silent = new Set<() => void>();
  const onStall = () => {
    if (opts.stallTimes !== undefined && state.stalls >= opts.stallTimes) return false;
    state.stalls++;
    return true;
  };
  const onCut = () => {
    if (opts.cutTimes !== undefined && state.cuts >= opts.cutTimes) return false;
    state.cuts++;
    return true;
  };
  const relay = (upstreamResponse: Response, blob: boolean, url: URL) => {
    const headers = new Headers(upstreamResponse.headers);
    const location = headers.get("location");
    if (location) {
      headers.set("location", location.replace(`http://${opts.upstream}`, `http://${host}`));
    }
    const length = Number(upstreamResponse.headers.get("content-length") ?? "0");
    const mangled = blob && upstreamResponse.body && upstreamResponse.ok &&
      length >= (opts.minBlobBytes ?? 0) &&
      (opts.cutAfter !== undefined || opts.flipAt !== undefined || opts.slowMs ||
        opts.stallAfter !== undefined);
    void url;
    return new Response(
      mangled
        ? mangle(upstreamResponse.body!, opts, onCut, onStall, silent)
        : upstreamResponse.body,
      {
        status: upstreamResponse.status,
        headers,
      },
    );
  };

  const storage = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      storageSeen.push(seenOf(req, url));
      const r = await forward(req, url, opts.storageUpstream ?? opts.upstream, true);
      return relay(r, true, url);
    },
  );
  const storageHost = `127.0.0.1:${storage.addr.port}`;

  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async (req): Promise<Response> => {
    const url = new URL(req.url);
    seen.push(seenOf(req, url));
    if (opts.bearer && url.pathname === "/token") {
      const expected = "Basic " + btoa(`${opts.bearer.username}:${opts.bearer.password}`);
      if (req.headers.get("authorization") !== expected) {
        return Response.json({ errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }, {
          status: 401,
        });
      }
      const token = crypto.randomUUID();
      tokens.add(token);
      return Response.json({ token, expires_in: 300 });
    }
    if (opts.bearer && url.pathname.startsWith("/v2/")) {
      const auth = req.headers.get("authorization") ?? "";
      if (!auth.startsWith("Bearer ") || !tokens.has(auth.slice(7))) {
        const repo = /^\/v2\/(.+?)\/(manifests|blobs)\//.exec(url.pathname)?.[1] ?? "";
        return Response.json({ errors: [{ code: "UNAUTHORIZED", message: "token required" }] }, {
          status: 401,
          headers: {
            "WWW-Authenticate":
              `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${repo}:pull"`,
          },
        });
      }
    }
    if (opts.redirectBlobs && isBlobGet(req, url)) {
      return new Response(null, {
        status: 307,
        headers: { location: `http://${storageHost}${url.pathname}?signed=1` },
      });
    }
    const r = await forward(req, url, opts.upstream, opts.bearer !== undefined);
    return relay(r, isBlobGet(req, url), url);
  });
  const host: string = `127.0.0.1:${server.addr.port}`;
  return {
    host,
    seen,
    storageSeen,
    get cuts() {
      return state.cuts;
    },
    get stalls() {
      return state.stalls;
    },
    close: async () => {
      for (const release of silent) release();
      await server.shutdown();
      await storage.shutdown();
    },
  };
}
