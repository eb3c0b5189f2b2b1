// A small stand-in for kube-apiserver's pods endpoint (Deno.serve on loopback), for testing
// list+watch clients over real HTTP: a list answers with the pods and the current
// resourceVersion; a watch replays the events after the version it asks for, then streams
// new ones until the test ends it (as the server does when timeoutSeconds expires); a
// version older than the last compaction gets an ERROR event with 410 Expired; watches and
// lists can be told to fail with an HTTP status.

import type { V1Pod } from "@kubernetes/client-node";

export interface SeenRequest {
  /** Milliseconds since the server started. */
  at: number;
  query: URLSearchParams;
}

interface LoggedEvent {
  rv: number;
  type: string;
  object: V1Pod;
}

const enc = new TextEncoder();

export class FakeApiServer {
  readonly lists: SeenRequest[] = [];
  readonly watches: SeenRequest[] = [];
  /** When each watch ended, by the server's choice, in ms since start; by watch index. */
  readonly closedAt: number[] = [];
  /** HTTP status for watches (null: serve them). */
  watchStatus: number | null = null;
  /** HTTP status for lists (null: serve them). */
  listStatus: number | null = null;
  /** Lists wait for this before answering, when set. */
  listGate: Promise<void> | null = null;
  /** End each watch after this long, sending a BOOKMARK first if `bookmarkOnClose`. */
  closeAfterMs: number | null = null;
  bookmarkOnClose = false;
  /** Called right after the server has ended a watch. */
  onClose: (() => void) | undefined;

  private readonly t0 = Date.now();
  private readonly pods = new Map<string, V1Pod>();
  private readonly log: LoggedEvent[] = [];
  private rv = 100;
  private compactedAt = 0;
  private readonly open = new Map<number, (bookmark: boolean) => void>();
  private readonly streams = new Set<(e: LoggedEvent) => void>();
  private server: Deno.HttpServer<Deno.NetAddr> | undefined;

  constructor(private readonly port = 0) {}

  get url(): string {
    return `http://127.0.0.1:${this.server!.addr.port}`;
  }

  now(): number {
    return Date.now() - this.t0;
  }

  start(): this {
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: this.port, onListen() {} },
      (req) => this.handle(req),
    );
    return this;
  }

  /** The current resourceVersion. */
  get version(): string {
    return String(this.rv);
  }

  /** Creates or updates a pod; open watches see it. */
  put(name: string): V1Pod {
    const type = this.pods.has(name) ? "MODIFIED" : "ADDED";
    const pod: V1Pod = {
      metadata: { name, namespace: "default", resourceVersion: String(++this.rv) },
    };
    this.pods.set(name, pod);
    this.record(type, pod);
    return pod;
  }

  remove(name: string): void {
    const pod = this.pods.get(name);
    if (!pod) return;
    this.pods.delete(name);
    this.record("DELETED", {
      ...pod,
      metadata: { ...pod.metadata, resourceVersion: String(++this.rv) },
    });
  }

  /** A change the watch does not match (another node's pod): the version moves on. */
  bump(): void {
    this.rv++;
  }

  /** Forgets the event history: watches from older versions get 410 Expired. */
  compact(): void {
    this.compactedAt = this.rv;
    this.log.length = 0;
  }

  /** Ends every open watch normally (what timeoutSeconds expiring does). */
  closeWatches(): void {
    for (const close of [...this.open.values()]) close(this.bookmarkOnClose);
  }

  async shutdown(): Promise<void> {
    for (const close of [...this.open.values()]) close(false);
    await this.server?.shutdown();
  }

  private record(type: string, object: V1Pod): void {
    const e = { rv: this.rv, type, object };
    this.log.push(e);
    for (const send of this.streams) send(e);
  }

  private async handle(req: Request): Promise<Response> {
    const query = new URL(req.url).searchParams;
    if (query.get("watch") !== "true") {
      this.lists.push({ at: this.now(), query });
      if (this.listGate) await this.listGate;
      if (this.listStatus !== null) return new Response("list failed", { status: this.listStatus });
      return Response.json({
        kind: "PodList",
        items: [...this.pods.values()],
        metadata: { resourceVersion: this.version },
      });
    }
    const index = this.watches.length;
    this.watches.push({ at: this.now(), query });
    if (this.watchStatus !== null) {
      return new Response(`watch failed with ${this.watchStatus}`, { status: this.watchStatus });
    }
    const from = Number(query.get("resourceVersion") || this.rv);
    const line = (o: unknown) => enc.encode(JSON.stringify(o) + "\n");
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const send = (e: LoggedEvent) => controller.enqueue(line({ type: e.type, object: e.object }));
    const close = (bookmark: boolean) => {
      if (!this.open.delete(index)) return;
      clearTimeout(timer);
      this.streams.delete(send);
      this.closedAt[index] = this.now();
      if (bookmark) {
        controller.enqueue(line({
          type: "BOOKMARK",
          object: { kind: "Pod", metadata: { resourceVersion: this.version } },
        }));
      }
      controller.close();
      this.onClose?.();
    };
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        if (from < this.compactedAt) {
          c.enqueue(line({
            type: "ERROR",
            object: {
              kind: "Status",
              status: "Failure",
              code: 410,
              reason: "Expired",
              message: `too old resource version: ${from} (${this.compactedAt})`,
            },
          }));
          c.close();
          return;
        }
        for (const e of this.log) if (e.rv > from) send(e);
        this.streams.add(send);
        this.open.set(index, close);
        if (this.closeAfterMs !== null) {
          timer = setTimeout(() => close(this.bookmarkOnClose), this.closeAfterMs);
        }
      },
      cancel: () => {
        clearTimeout(timer);
        this.streams.delete(send);
        this.open.delete(index);
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  }
}

/** Polls `cond` every 5 ms; throws `what` if it is not true within `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A port nothing listens on (just freed). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
