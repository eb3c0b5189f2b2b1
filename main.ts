// Command line of macos-vz-kubelet: `serve` (the default) runs the agent; `image` manages VM
// images; `vm run` is the per-VM helper process the vz backend starts; `version` prints the
// version.

import { parseConfig, redactConfig } from "./src/config/parse.ts";
import { localHost } from "./src/config/local_host.ts";
import { helpText } from "./src/config/help.ts";
import { ensureServingCert } from "./src/config/serving_cert.ts";
import { createLogger } from "./src/telemetry/log.ts";
import { startTracing } from "./src/telemetry/tracing.ts";
import { startAgent } from "./src/agent.ts";
import { selectRuntime } from "./src/runtime/select.ts";
import { clusterAccess } from "./src/kube/objects.ts";
import { VERSION } from "./src/version.ts";
import { imageCommand } from "./src/image/cli/cli.ts";
import { vmCommand } from "./src/vm/vz/helper_main.ts";

const USAGE = `usage: macos-vz-kubelet [serve] [options]    run the node agent (default)
       macos-vz-kubelet image <command> …        pull, push, inspect, ls, rm, prune VM images
       macos-vz-kubelet vm host                  what this Mac's Virtualization framework allows
       macos-vz-kubelet vm run --spec FILE       one VM's helper process (started by the vz backend)
       macos-vz-kubelet version                  print the version
       macos-vz-kubelet --help                   list every option`;

/** Hard limit between SIGTERM and exit. */
const STOP_DEADLINE_MS = 9_000;

async function serve(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(`${USAGE}\n\n${helpText()}`);
    return 0;
  }
  const parsed = parseConfig(args, Deno.env.toObject(), localHost());
  if (!parsed.ok) {
    for (const e of parsed.errors) console.error(`error: ${e}`);
    console.error(`${parsed.errors.length} problem(s); nothing started. See --help.`);
    return 2;
  }
  const config = parsed.config;
  const log = createLogger({ level: config.logLevel });
  log.info("starting macos-vz-kubelet", { version: VERSION, config: redactConfig(config) });

  const cert = await ensureServingCert(config, log);
  log.debug("kubelet serving certificate", { cert: cert.certPath, generated: cert.generated });

  // Listening from here on: a SIGTERM while the agent still starts aborts the start-up, which
  // cleans up, instead of killing the agent half way (leaving its dnsmasq and others behind).
  const stopping = new AbortController();
  const stopSignal = new Promise<string>((resolve) => {
    for (const s of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(s, () => {
        stopping.abort(new Error(`${s} during start-up`));
        resolve(s);
      });
    }
  });
  const tracing = await startTracing(config, log);
  const agent = await startAgent(config, {
    log,
    tracer: tracing.tracer,
    signal: stopping.signal,
    runtime: ({ clients, events, host }) =>
      selectRuntime(config, { events, host, log, ...clusterAccess(clients) }),
  }).catch((err) => {
    if (!stopping.signal.aborted) log.error("agent could not start", { error: err });
    return undefined;
  });
  if (!agent) {
    await tracing.shutdown();
    if (stopping.signal.aborted) log.info("stopped during start-up");
    return stopping.signal.aborted ? 0 : 1;
  }

  const signal = await stopSignal;
  log.info("stopping", { signal });
  const deadline = setTimeout(() => {
    log.error("could not stop in time; exiting anyway");
    Deno.exit(1);
  }, STOP_DEADLINE_MS);
  await agent.stop();
  await tracing.shutdown(); // flushes the spans of the last syncs
  clearTimeout(deadline);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  switch (first) {
    case "version":
    case "--version":
      console.log(`macos-vz-kubelet ${VERSION} (deno ${Deno.version.deno})`);
      return 0;
    case "serve":
      return await serve(rest);
    case "image":
      return await imageCommand(rest);
    case "vm":
      return await vmCommand(rest);
    case "help":
      console.log(`${USAGE}\n\n${helpText()}`);
      return 0;
    default:
      if (first === undefined || first.startsWith("-")) return await serve(argv);
      console.error(`unknown command "${first}"\n${USAGE}`);
      return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
