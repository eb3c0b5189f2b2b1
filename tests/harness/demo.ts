// `deno task demo`: the whole thing on one machine with no cluster. Starts the dev cluster
// (control plane, registry, Docker, test guest and busybox images), the agent as node
// dev-mac with the qemu backend, applies example/pod-linux.yml and the hybrid
// example/pod-linux-hybrid.yml, waits for both pods, prints what to try, and stops
// everything on Ctrl-C. The teardown runs once, whichever signal arrives and whichever child
// dies first (Ctrl-C reaches the whole process group, children included), and it removes
// the demo's VMs, taps and bridge itself: VMs outlive an agent by design.

import { pidAlive, recordPath } from "../../src/vm/qemu/vm.ts";
import { stopVirtiofsd } from "../../src/vm/qemu/virtiofsd.ts";
import { removeBridge, removeTap } from "../../src/network/linux_bridge.ts";

const REPO = new URL("../..", import.meta.url).pathname;
const DIR = Deno.env.get("DEV_CLUSTER_DIR") ?? `${REPO}.dev-cluster`;
const CACHE = `${DIR}/demo-cache`;
const BRIDGE = "vzkdemo0";
/** Not the agent's default subnet: a bridge a real agent left on it must not take the demo's. */
const SUBNET = "10.250.0.0/24";
const say = (line: string) => console.log(`demo: ${line}`);

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z_][A-Z0-9_]*)='?(.*?)'?$/gm)) env[m[1]] = m[2];
  return env;
}

async function waitForLine(child: Deno.ChildProcess, needle: string, ms: number) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const end = Date.now() + ms;
  let seen = "";
  while (Date.now() < end) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`dev cluster exited before "${needle}":\n${seen.slice(-2000)}`);
    seen += value;
    if (seen.includes(needle)) {
      // Keep draining so the child never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })().catch(() => {});
      return;
    }
  }
  throw new Error(`no "${needle}" within ${ms / 1000} s`);
}

async function kubectl(env: Record<string, string>, args: string[]) {
  const out = await new Deno.Command(env.KUBECTL, {
    args: ["--kubeconfig", `${DIR}/admin.kubeconfig`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`kubectl ${args.join(" ")}: ${text.trim()}`);
  return text.trim();
}

/** SIGTERM, SIGKILL after `ms`; resolves once it has exited. Safe on a child already gone. */
async function stopChild(child: Deno.ChildProcess | undefined, ms: number): Promise<void> {
  if (!child) return;
  let exited = false;
  const status = child.status.then(() => void (exited = true));
  const signal = (s: Deno.Signal) => {
    try {
      child.kill(s);
    } catch { /* exited meanwhile */ }
  };
  if (!exited) signal("SIGTERM");
  const timer = setTimeout(() => exited || signal("SIGKILL"), ms);
  await status;
  clearTimeout(timer);
}

/** Removes every VM the demo's agent left (QEMU, virtiofsd, tap), then its bridge. */
async function removeDemoVms(): Promise<void> {
  const vms = `${CACHE}/vms`;
  for (const d of await Array.fromAsync(Deno.readDir(vms)).catch(() => [])) {
    if (!d.isDirectory || d.name.startsWith(".")) continue;
    const record = JSON.parse(
      await Deno.readTextFile(recordPath(`${vms}/${d.name}`)).catch(() => "{}"),
    ) as { pid?: number; tap?: string };
    if (record.pid && pidAlive(record.pid)) {
      try {
        Deno.kill(record.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await stopVirtiofsd(`${vms}/${d.name}`);
    if (record.tap) await removeTap(record.tap).catch(() => {});
  }
  await removeBridge(BRIDGE).catch(() => {});
}

async function main() {
  say("starting the dev cluster (first run builds Kubernetes and the test guest: minutes)");
  const cluster = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}tests/harness/dev_cluster.ts`],
    env: { DEV_CLUSTER_DIR: DIR },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // Filled in as things start; stop() takes down whatever is there.
  const running: { agent?: Deno.ChildProcess; env?: Record<string, string> } = {};
  let stopping: Promise<never> | undefined;
  const stop = (code: number): Promise<never> =>
    stopping ??= (async () => {
      say("stopping");
      // Delete the demo's pods while the cluster may still answer (Ctrl-C reached it too).
      if (running.agent && running.env) {
        await Promise.race([
          kubectl(running.env, ["delete", "pod", "--all", "--wait=true", "--timeout=20s"])
            .catch(() => {}),
          new Promise((r) => setTimeout(r, 25_000)),
        ]);
      }
      await stopChild(running.agent, 15_000);
      await removeDemoVms();
      await stopChild(cluster, 20_000);
      say("stopped");
      Deno.exit(code);
    })();
  for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, () => void stop(0));
  cluster.status.then(() => void stop(stopping ? 0 : 1));
  try {
    await startAndShow(cluster, running, () => !!stopping, stop);
  } catch (err) {
    if (stopping) return; // a step cut short by the teardown itself
    console.error(`demo: ${err instanceof Error ? err.message : err}`);
    await stop(1);
  }
}

async function startAndShow(
  cluster: Deno.ChildProcess,
  running: { agent?: Deno.ChildProcess; env?: Record<string, string> },
  isStopping: () => boolean,
  stop: (code: number) => Promise<never>,
) {
  await waitForLine(cluster, "dev cluster ready", 3_600_000);
  const env = running.env = parseEnv(await Deno.readTextFile(`${DIR}/env`));
  say(`starting the agent as node dev-mac (log: ${DIR}/agent.log)`);
  const logFile = await Deno.open(`${DIR}/agent.log`, {
    write: true,
    create: true,
    truncate: true,
  });
  const agent = running.agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO}main.ts`,
      "serve",
      `--cache-dir=${CACHE}`,
      `--qemu-bridge=${BRIDGE}`,
      `--qemu-subnet=${SUBNET}`,
    ],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  agent.stderr.pipeTo(logFile.writable).catch(() => {});
  agent.status.then((s) => {
    if (!isStopping()) {
      say(`the agent exited (${s.code}); see ${DIR}/agent.log`);
      void stop(1);
    }
  });

  for (let i = 0; i < 120; i++) {
    const ready = await kubectl(env, [
      "get",
      "node",
      "dev-mac",
      "-o",
      "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
    ]).catch(() => "");
    if (ready === "True") break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  say("node dev-mac is Ready; applying example/pod-linux.yml and example/pod-linux-hybrid.yml");
  const manifest = ["pod-linux.yml", "pod-linux-hybrid.yml"].map((f) =>
    Deno.readTextFileSync(`${REPO}example/${f}`)
      .replaceAll("${DEV_GUEST_IMAGE}", env.DEV_GUEST_IMAGE)
      .replaceAll("${DEV_BUSYBOX_IMAGE}", env.DEV_BUSYBOX_IMAGE)
  ).join("\n---\n");
  const apply = new Deno.Command(env.KUBECTL, {
    args: ["--kubeconfig", `${DIR}/admin.kubeconfig`, "apply", "-f", "-"],
    stdin: "piped",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const w = apply.stdin.getWriter();
  await w.write(new TextEncoder().encode(manifest));
  await w.close();
  await apply.status;
  await kubectl(env, [
    "wait",
    "--for=condition=Ready",
    "pod/linux-demo",
    "pod/linux-hybrid",
    "--timeout=300s",
  ]);
  const ip = await kubectl(env, ["get", "pod", "linux-demo", "-o", "jsonpath={.status.podIP}"]);
  console.log(`
demo: pod linux-demo runs in a QEMU VM at ${ip}. Try, in another terminal:
  export KUBECONFIG=${DIR}/admin.kubeconfig KUBECTL=${env.KUBECTL}
  $KUBECTL get nodes,pods -o wide
  $KUBECTL describe pod linux-demo          # events: Pulling, Pulled, Created, Started
  ssh -i ${env.VZ_SSH_PRIVATE_KEY_PATH} root@${ip} uname -a
  $KUBECTL logs linux-hybrid -c web        # the sidecar reached the VM at the pod IP
  $KUBECTL port-forward pod/linux-hybrid 8080   # then: curl http://127.0.0.1:8080/
  $KUBECTL delete pod linux-demo            # the VM, its tap and its disk clone go away
demo: Ctrl-C stops the agent and the cluster.`);
  await new Promise(() => {});
}

if (import.meta.main) await main();
