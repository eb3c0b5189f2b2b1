// The bulk transfers of the kubelet API benchmark, each moving one file's bytes through the real
// kubectl and kube-apiserver to a node: `kubectl exec … cat FILE` (download), `exec -i … sh -c
// 'cat | wc -c'` (upload), `exec -i … cat` (in and out), an HTTP download through `kubectl
// port-forward`, and (no API server between) exec straight to the agent over SPDY. kubectl
// reads and writes files and pipes as from a user's shell, so the benchmark spends no CPU of its
// own moving the bytes. `spdy` runs kubectl with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false.

import { readIdentity, spdyUpgrade, type TlsIdentity } from "../tests/support/spdy_client.ts";
import { count } from "./transfer_meter.ts";

export type TransferKind = "download" | "upload" | "in and out" | "port-forward";

export interface Transport {
  /** kubectl's own SPDY instead of its default, WebSocket. */
  spdy: boolean;
}

const SPDY_ENV = {
  KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false",
  KUBECTL_PORT_FORWARD_WEBSOCKETS: "false",
};

const quote = (w: string) => `'${w.replaceAll("'", `'\\''`)}'`;

/**
 * `kubectl exec` to its end, stdin from `input` (a file) when given, stdout counted by `wc -c`
 * (or, with `printsCount`, the count the remote command prints).
 */
export async function kubectlExec(
  kubectl: string[],
  pod: string,
  command: string[],
  input: string | undefined,
  printsCount: boolean,
  spdy: boolean,
): Promise<number> {
  const line = [...kubectl, "exec", ...(input ? ["-i"] : []), pod, "--", ...command]
    .map(quote).join(" ") +
    (input ? ` < ${quote(input)}` : "") + (printsCount ? "" : " | wc -c");
  const out = await new Deno.Command("bash", {
    args: ["-c", `set -o pipefail; ${line}`],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: spdy ? SPDY_ENV : {},
  }).output();
  if (!out.success) throw new Error(`kubectl exec ${pod} ${command.join(" ")} failed`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** One exec transfer of `file` to or from `pod`. */
export function execTransfer(
  kind: Exclude<TransferKind, "port-forward">,
  kubectl: string[],
  pod: string,
  file: string,
  spdy: boolean,
): Promise<number> {
  switch (kind) {
    case "download":
      return kubectlExec(kubectl, pod, ["cat", file], undefined, false, spdy);
    case "upload":
      return kubectlExec(kubectl, pod, ["sh", "-c", "cat | wc -c"], file, true, spdy);
    case "in and out":
      return kubectlExec(kubectl, pod, ["cat"], file, false, spdy);
  }
}

export interface PortForward {
  port: number;
  /** kubectl's process, whose CPU the measurement counts. */
  pid: number;
  stop(): Promise<void>;
}

/** `kubectl port-forward pod/POD :PORT` until stopped. */
export async function portForward(
  kubectl: string[],
  pod: string,
  port: number,
  spdy: boolean,
): Promise<PortForward> {
  const pf = new Deno.Command(kubectl[0], {
    args: [...kubectl.slice(1), "port-forward", "--address", "127.0.0.1", `pod/${pod}`, `:${port}`],
    stdout: "piped",
    stderr: "null",
    env: spdy ? SPDY_ENV : {},
  }).spawn();
  const out = pf.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const pattern = new RegExp(`127\\.0\\.0\\.1:(\\d+) -> ${port}`);
  let seen = "";
  while (!pattern.test(seen)) {
    const { value, done } = await out.read();
    if (done) throw new Error(`kubectl port-forward ${pod} ended: ${seen}`);
    seen += value;
  }
  void (async () => {
    while (!(await out.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  return {
    port: Number(pattern.exec(seen)![1]),
    pid: pf.pid,
    async stop() {
      pf.kill("SIGTERM");
      await pf.status;
    },
  };
}

/** An HTTP download through a running port-forward; bytes received. */
export async function forwardedDownload(pf: PortForward): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${pf.port}/big`);
  return await count(res.body!);
}

export { readIdentity, type TlsIdentity };

/** exec of `cat FILE` straight to the agent over SPDY, as kube-apiserver would open it. */
export async function directDownload(
  port: number,
  id: TlsIdentity,
  pod: string,
  file: string,
): Promise<number> {
  const up = await spdyUpgrade(
    port,
    `/exec/default/${pod}/vm?command=cat&command=${encodeURIComponent(file)}&output=1&error=1`,
    id,
    ["v4.channel.k8s.io"],
  );
  if (!up.ok) throw new Error(`direct exec refused: ${up.status} ${up.body}`);
  const error = await up.session.openStream({ streamtype: "error" });
  const stdout = await up.session.openStream({ streamtype: "stdout" });
  const stderr = await up.session.openStream({ streamtype: "stderr" });
  const [got] = await Promise.all([
    count(stdout.readable),
    count(stderr.readable),
    count(error.readable),
  ]);
  up.session.destroy();
  return got;
}
