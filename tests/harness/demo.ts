// `deno task demo`: the whole thing on one machine with no cluster. Starts the dev cluster
// (control plane, registry, Docker, test guest and busybox images), the agent as node
// dev-mac with the qemu backend, applies example/pod-linux.yml and the hybrid
// example/pod-linux-hybrid.yml, waits for both pods, prints what to try, and stops
// everything on Ctrl-C.

const REPO = new URL("../..", import.meta.url).pathname;
const DIR = `${REPO}.dev-cluster`;
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

async function main() {
  say("starting the dev cluster (first run builds Kubernetes and the test guest: minutes)");
  const cluster = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}tests/harness/dev_cluster.ts`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // Filled in as things start; stop() (on Ctrl-C) takes down whatever is there.
  const running: { agent?: Deno.ChildProcess; env?: Record<string, string> } = {};
  const stop = async () => {
    say("stopping");
    // VMs outlive the agent by design (it adopts them when it comes back): delete the
    // demo's pods first so their VMs go too.
    if (running.agent && running.env) {
      await kubectl(running.env, ["delete", "pod", "--all", "--timeout=60s"]).catch(() => {});
    }
    if (running.agent) {
      running.agent.kill("SIGTERM");
      await running.agent.status;
    }
    cluster.kill("SIGTERM");
    await cluster.status;
    say("stopped");
    Deno.exit(0);
  };
  for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, () => void stop());

  await waitForLine(cluster, "dev cluster ready", 3_600_000);
  const env = running.env = parseEnv(await Deno.readTextFile(`${DIR}/env`));
  say("starting the agent as node dev-mac (log: .dev-cluster/agent.log)");
  const logFile = await Deno.open(`${DIR}/agent.log`, {
    write: true,
    create: true,
    truncate: true,
  });
  const agent = running.agent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}main.ts`, "serve"],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  agent.stderr.pipeTo(logFile.writable).catch(() => {});

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

if (import.meta.main) {
  main().catch((err) => {
    console.error(`demo: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  });
}
