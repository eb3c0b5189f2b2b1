// Measuring one bulk transfer through the kubelet API: wall time, peak RSS growth of the
// node's first process (the agent), and CPU seconds of every process on the path (the node's:
// the agent, or kubelet + containerd + shim; kube-apiserver; kubectl; this process), so a report
// can say where the time went. Plus the byte sources and sinks, and the
// plain-TLS baselines (one way, and in-and-out through an echo) the transfers are judged by.

import { rssBytes } from "./common.ts";

const MiB = 2 ** 20;
const CHUNK = new Uint8Array(MiB).map((_, i) => (i * 31) & 0xff);

/** Feeds `size` bytes in 1 MiB chunks. */
export function source(size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= size) return c.close();
      const n = Math.min(MiB, size - sent);
      c.enqueue(n === MiB ? CHUNK : CHUNK.subarray(0, n));
      sent += n;
    },
  });
}

/** Bytes a stream yields, read to its end. */
export async function count(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += c.byteLength;
  return n;
}

/** CPU seconds (user + system) of `pid`; with `children`, of its reaped children instead. */
export async function cpuSeconds(pid: number | "self", children = false): Promise<number> {
  const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  const at = children ? 13 : 11;
  return (Number(fields[at]) + Number(fields[at + 1])) / 100;
}

export interface Processes {
  /** The node side: the agent, or kubelet, containerd and the pod's shim. RSS: the first. */
  node: number[];
  apiServer?: number;
  /** Long-running kubectl processes on the path (a port-forward), counted as kubectl. */
  clients?: number[];
}

export interface Measured {
  seconds: number;
  bytes: number;
  /** Peak RSS of the node's first process during the transfer minus RSS before it, bytes. */
  growth: number;
  /** That process's RSS before the transfer, bytes. */
  before: number;
  /** CPU seconds during the transfer. */
  cpu: { node: number; apiServer: number; kubectl: number; bench: number };
}

/**
 * Runs `transfer` (which returns the bytes it moved), sampling the node's RSS every 100 ms.
 * kubectl's CPU is that of this process's children reaped meanwhile: run kubectl to its end
 * inside `transfer`.
 */
export async function measured(procs: Processes, transfer: () => Promise<number>) {
  const main = procs.node[0];
  const before = await rssBytes(main);
  let peak = before;
  const timer = setInterval(async () => {
    peak = Math.max(peak, await rssBytes(main).catch(() => 0));
  }, 100);
  const nodeCpu = async () => {
    let sum = 0;
    for (const pid of procs.node) sum += await cpuSeconds(pid).catch(() => 0);
    return sum;
  };
  const clientCpu = async () => {
    let sum = 0;
    for (const pid of procs.clients ?? []) sum += await cpuSeconds(pid).catch(() => 0);
    return sum;
  };
  const cpu = async () => ({
    node: await nodeCpu(),
    apiServer: procs.apiServer ? await cpuSeconds(procs.apiServer) : 0,
    kubectl: await cpuSeconds("self", true) + await clientCpu(),
    bench: await cpuSeconds("self"),
  });
  const cpu0 = await cpu();
  const t0 = performance.now();
  const bytes = await transfer();
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = await cpu();
  clearInterval(timer);
  peak = Math.max(peak, await rssBytes(main));
  const result: Measured = {
    seconds,
    bytes,
    growth: peak - before,
    before,
    cpu: {
      node: cpu1.node - cpu0.node,
      apiServer: cpu1.apiServer - cpu0.apiServer,
      kubectl: cpu1.kubectl - cpu0.kubectl,
      bench: cpu1.bench - cpu0.bench,
    },
  };
  return result;
}

export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

/** MB/s of `size` bytes sent one way over one TLS connection on loopback, in this process. */
export async function tlsOneWay(size: number, tls: TlsMaterial): Promise<number> {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...tls });
  const serving = (async () => {
    const conn = await listener.accept();
    await source(size).pipeTo(conn.writable);
  })();
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
    caCerts: [tls.ca],
  });
  const t0 = performance.now();
  const got = await count(conn.readable);
  const seconds = (performance.now() - t0) / 1000;
  await serving;
  listener.close();
  if (got !== size) throw new Error(`one-way TLS baseline moved ${got} of ${size} bytes`);
  return size / MiB / seconds;
}

/**
 * MB/s of `size` bytes sent over one loopback TLS connection and echoed back on it (what
 * `exec -i … cat` does), counted once, as the transfers are.
 */
export async function tlsEcho(size: number, tls: TlsMaterial): Promise<number> {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...tls });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.readable.pipeTo(conn.writable);
  })();
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
    caCerts: [tls.ca],
  });
  const t0 = performance.now();
  const [, got] = await Promise.all([
    source(size).pipeTo(conn.writable, { preventClose: true }).then(() => conn.closeWrite()),
    count(conn.readable),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  await serving.catch(() => {});
  listener.close();
  if (got !== size) throw new Error(`echo TLS baseline moved ${got} of ${size} bytes`);
  return size / MiB / seconds;
}
