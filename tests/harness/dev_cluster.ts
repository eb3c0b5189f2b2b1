// `deno task dev-cluster [--node NAME]...`: a local control plane and registry in the
// foreground for developing the agent by hand. Writes .dev-cluster/admin.kubeconfig,
// .dev-cluster/env (source it, then `deno task start` joins as node dev-mac) and
// .dev-cluster/nodes/NAME/ for every extra --node. Ctrl-C or SIGTERM stops everything.
import { type ControlPlane, startControlPlane } from "./control_plane.ts";
import { freePort } from "./ports.ts";
import { addShutdownHook } from "./process.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { type TestGuest, testGuest } from "./guest.ts";
import { pushTestGuest } from "../support/guest_image.ts";
import { type DockerEngine, pushBusyboxImage, startDocker } from "./docker.ts";

const DEFAULT_NODE = "dev-mac";

interface Args {
  nodes: string[];
}

function parseArgs(argv: string[]): Args {
  const nodes: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--node" && i + 1 < argv.length) {
      nodes.push(argv[++i]);
    } else if (arg.startsWith("--node=")) {
      nodes.push(arg.slice("--node=".length));
    } else if (arg === "-h" || arg === "--help") {
      console.log("usage: deno task dev-cluster [--node NAME]...");
      Deno.exit(0);
    } else {
      console.error(`dev-cluster: unknown argument ${arg}`);
      Deno.exit(2);
    }
  }
  for (const name of nodes) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
      console.error(`dev-cluster: ${name} is not a valid node name (lower-case DNS name)`);
      Deno.exit(2);
    }
  }
  return { nodes: [...new Set(nodes.filter((name) => name !== DEFAULT_NODE))] };
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

async function copyNodeFiles(cp: ControlPlane, name: string, dir: string): Promise<void> {
  const creds = await cp.nodeCredentials(name);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.copyFile(creds.kubeconfig, `${dir}/kubeconfig`);
  await Deno.copyFile(creds.servingCert, `${dir}/serving.crt`);
  await Deno.copyFile(creds.servingKey, `${dir}/serving.key`);
  await Deno.copyFile(creds.caCert, `${dir}/ca.crt`);
}

interface GuestImage {
  ref: string;
  guest: TestGuest;
}

function envFile(
  cp: ControlPlane,
  registry: Registry,
  root: string,
  image: GuestImage,
  docker: { engine: DockerEngine; busybox: string },
): string {
  const node = `${root}/nodes/${DEFAULT_NODE}`;
  const vars: [string, string][] = [
    ["KUBECONFIG", `${node}/kubeconfig`],
    ["APISERVER_CERT_LOCATION", `${node}/serving.crt`],
    ["APISERVER_KEY_LOCATION", `${node}/serving.key`],
    ["APISERVER_CA_CERT_LOCATION", `${root}/ca.crt`],
    ["KUBELET_PORT", String(freePort())],
    ["VZK_NODENAME", DEFAULT_NODE],
    ["KUBECTL", cp.kubectl],
    ["ADMIN_KUBECONFIG", `${root}/admin.kubeconfig`],
    ["DEV_REGISTRY", registry.host],
    ["DEV_REGISTRY_AUTH", registry.authHost],
    ["DEV_REGISTRY_USER", registry.username],
    ["DEV_REGISTRY_PASSWORD", registry.password],
    // The small Linux test guest, pushed to the registry; the agent logs in as root with
    // its key (root may power the guest off, which graceful pod deletion needs).
    ["DEV_GUEST_IMAGE", image.ref],
    ["VZ_SSH_USER", image.guest.rootUser],
    ["VZ_SSH_PRIVATE_KEY_PATH", image.guest.privateKeyPath],
    // A Docker engine of its own for sidecars, and a busybox image in the registry.
    ["DOCKER_HOST", docker.engine.host],
    ["VZK_DOCKER_NETWORK", docker.engine.network],
    ["DEV_BUSYBOX_IMAGE", docker.busybox],
  ];
  return [
    "# Written by `deno task dev-cluster`; valid while it runs. Source it, then `deno task start`.",
    `# The agent joins as node ${DEFAULT_NODE} (VZK_NODENAME, the env twin of --nodename);`,
    `# KUBECONFIG holds client cert CN=system:node:${DEFAULT_NODE}.`,
    `# API server: ${cp.apiServerUrl}`,
    ...vars.map(([key, value]) => `export ${key}=${shellQuote(value)}`),
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  // DEV_CLUSTER_DIR lets tests run a dev cluster beside a developer's own.
  const root = Deno.env.get("DEV_CLUSTER_DIR") ??
    new URL("../../.dev-cluster", import.meta.url).pathname;
  const runDir = `${root}/run`;
  await Deno.remove(runDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(runDir, { recursive: true });

  const log = (line: string) => console.log(`dev-cluster: ${line}`);
  const [cp, registry, engine] = await Promise.all([
    startControlPlane({ dir: `${runDir}/control-plane`, log }),
    startRegistry({ dir: `${runDir}/registry` }),
    startDocker({ dir: `${runDir}/docker` }),
  ]);
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    console.log("dev-cluster: stopping");
    await Promise.all([cp.stop(), registry.stop(), engine.stop()]);
    // Everything written below belongs to this run's PKI: useless once it is gone.
    await Deno.remove(`${root}/env`).catch(() => {});
    if (Deno.env.get("KEEP_TEST_WORLD") !== "1") {
      for (const path of ["run", "nodes", "admin.kubeconfig", "ca.crt"]) {
        await Deno.remove(`${root}/${path}`, { recursive: true }).catch(() => {});
      }
    }
    console.log("dev-cluster: stopped");
  };
  // Runs before the process exits on SIGINT/SIGTERM (see process.ts); cp and registry
  // registered their own stop too, so this only adds the cleanup of env.
  addShutdownHook(stopAll);

  await Deno.remove(`${root}/nodes`, { recursive: true }).catch(() => {});
  await Deno.copyFile(cp.adminKubeconfig, `${root}/admin.kubeconfig`);
  await Deno.copyFile(cp.caCertPath, `${root}/ca.crt`);
  for (const name of [DEFAULT_NODE, ...args.nodes]) {
    await copyNodeFiles(cp, name, `${root}/nodes/${name}`);
  }
  log("building and pushing the test guest image");
  const guest = await testGuest();
  const image = { ref: await pushTestGuest(guest, registry.host), guest };
  const busybox = await pushBusyboxImage(engine, registry.host, runDir);
  await Deno.writeTextFile(
    `${root}/env`,
    envFile(cp, registry, root, image, { engine, busybox }),
  );

  console.log(`dev cluster ready (control plane started in ${(cp.startupMs / 1000).toFixed(1)}s)`);
  console.log(`  api server      ${cp.apiServerUrl}`);
  console.log(`  guest image     ${image.ref}`);
  console.log(`  busybox image   ${busybox} (for sidecars)`);
  console.log(`  docker          ${engine.host} (network ${engine.network})`);
  console.log(
    `  registry        ${registry.host} (anonymous), ${registry.authHost} (user ` +
      `${registry.username}, password ${registry.password})`,
  );
  console.log(`  logs            ${cp.dir}/logs/`);
  console.log(`  join as ${DEFAULT_NODE}  source .dev-cluster/env && deno task start`);
  console.log(
    `  kubectl         ${cp.kubectl} --kubeconfig .dev-cluster/admin.kubeconfig get nodes`,
  );
  for (const name of args.nodes) {
    console.log(`  node ${name}: .dev-cluster/nodes/${name}/{kubeconfig,serving.crt,serving.key}`);
  }
  console.log("  stop            Ctrl-C");

  // Stay in the foreground until a signal arrives (process.ts runs the hooks, then exits).
  await new Promise<never>(() => setInterval(() => {}, 1 << 30));
}

if (import.meta.main) await main();
