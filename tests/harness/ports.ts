// Free TCP ports on loopback for the processes of one test world. A port is found by binding
// port 0; it is remembered so that two worlds started side by side in this process never get
// the same one (another process may still race us: callers retry on "address already in use").

const handedOut: Set<number> = new Set();

/** A TCP port on 127.0.0.1 that was free a moment ago and not handed out before here. */
export function freePort(): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("freePort: no free port found");
}

/** True when a log says the process could not bind its port. */
export function looksLikePortClash(log: string): boolean {
  return /address already in use|bind: address/i.test(log);
}
