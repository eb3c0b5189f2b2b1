// Pure parsing for the streaming routes: exec/attach stream flags and command, port-forward
// ports, and subprotocol negotiation (X-Stream-Protocol-Version for SPDY, the WebSocket
// subprotocol list otherwise), following the kubelet's rules.

export interface StreamFlags {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** "1" as the API server sends it; "true" as direct callers often do. */
const truthy = (v: string | null) => v === "1" || v === "true";

/** Stream flags of an exec/attach request; with tty, stderr is merged into the terminal. */
export function parseStreamFlags(query: URLSearchParams): Parsed<StreamFlags> {
  const tty = truthy(query.get("tty"));
  const flags = {
    stdin: truthy(query.get("input")) || truthy(query.get("stdin")),
    stdout: truthy(query.get("output")) || truthy(query.get("stdout")),
    stderr: !tty && (truthy(query.get("error")) || truthy(query.get("stderr"))),
    tty,
  };
  if (!flags.stdin && !flags.stdout && !flags.stderr) {
    return { ok: false, message: "you must specify at least 1 of stdin, stdout, stderr" };
  }
  return { ok: true, value: flags };
}

/** The command of an exec request (`command` repeated, one argument each). */
function parseCommand(query: URLSearchParams): Parsed<string[]> {
  const command = query.getAll("command");
  if (command.length === 0 || command[0] === "") {
    return { ok: false, message: "exec needs a command (query parameter command)" };
  }
  return { ok: true, value: command };
}

/** Flags and, for exec, the command of an exec or attach request. */
export function parseRemoteCommand(
  query: URLSearchParams,
  kind: "exec" | "attach",
): Parsed<{ flags: StreamFlags; command?: string[] }> {
  const flags = parseStreamFlags(query);
  if (!flags.ok) return flags;
  if (kind === "attach") return { ok: true, value: { flags: flags.value } };
  const command = parseCommand(query);
  if (!command.ok) return command;
  return { ok: true, value: { flags: flags.value, command: command.value } };
}

/** Ports of a WebSocket port-forward request (`ports=80,443`, possibly repeated). */
export function parsePorts(query: URLSearchParams): Parsed<number[]> {
  const raw = query.getAll("ports");
  if (raw.length === 0) return { ok: false, message: 'query parameter "ports" is required' };
  const ports: number[] = [];
  for (const list of raw) {
    if (list === "") return { ok: false, message: 'query parameter "ports" cannot be empty' };
    for (const p of list.split(",")) {
      const port = /^\d+$/.test(p) ? Number(p) : NaN;
      if (!(port >= 1 && port <= 65535)) {
        return { ok: false, message: `unable to parse ${JSON.stringify(p)} as a port` };
      }
      ports.push(port);
    }
  }
  return { ok: true, value: ports };
}

/** A port from a SPDY stream's `port` header. */
export function parsePortHeader(value: string | undefined): Parsed<number> {
  if (!value) return { ok: false, message: '"port" header is required' };
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    return { ok: false, message: `unable to parse ${JSON.stringify(value)} as a port` };
  }
  return { ok: true, value: port };
}

/** Comma-separated values of a header that may repeat. */
export function headerList(value: string | string[] | undefined): string[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

/**
 * The first protocol the client offers that the server speaks (the client's preference
 * wins, as in k8s.io/apimachinery httpstream.Handshake), or undefined.
 */
export function negotiate(offered: string[], supported: readonly string[]): string | undefined {
  return offered.find((p) => supported.includes(p));
}

/** Remote-command protocols spoken over SPDY, newest first. */
export const SPDY_EXEC_PROTOCOLS = [
  "v5.channel.k8s.io",
  "v4.channel.k8s.io",
  "v3.channel.k8s.io",
  "v2.channel.k8s.io",
  "channel.k8s.io",
] as const;

export const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";

/** Remote-command protocols spoken over WebSocket. */
export const WS_EXEC_PROTOCOLS = [
  "v5.channel.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
] as const;

/** Port-forward protocols spoken over WebSocket ("SPDY/3.1+…" tunnels SPDY through it). */
export const WS_PORT_FORWARD_PROTOCOLS = [
  "SPDY/3.1+portforward.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "portforward.k8s.io",
] as const;

/** The protocol generation of a channel protocol: 1 (channel.k8s.io) to 5. */
export function channelVersion(protocol: string): number {
  const m = /^v(\d)\./.exec(protocol);
  return m ? Number(m[1]) : 1;
}
