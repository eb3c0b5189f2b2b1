// The `image …` command line: push, pull (into the cache or -o DIR), inspect, ls, rm,
// prune. Returns an exit status: 0 ok, 1 failure (one line saying why), 2 bad usage.
// Options are parsed with node:util parseArgs; registry access options are shared by all.

import os from "node:os";
import { parseArgs } from "node:util";
import { defaultCacheDir } from "../../config/paths.ts";
import { dockerConfigCredentials } from "../registry/credentials.ts";
import { pruneImages } from "../store/gc.ts";
import { pullImage } from "../pull/pull.ts";
import { pullToDir } from "../pull/pull_to_dir.ts";
import { base64Arg, DEFAULT_CHUNK_SIZE, pushImage, type PushInputs } from "../push/push.ts";
import { formatBytes, ProgressView, stderrSink } from "./progress.ts";
import { formatReference, parseReference } from "../registry/reference.ts";
import { RegistryClient } from "../registry/client.ts";
import { ImageStore } from "../store/store.ts";
import { inspectImage, listImages } from "./cli_views.ts";
import { readVmDir } from "../push/vm_dir.ts";
import { createLogger, type Logger } from "../../telemetry/log.ts";
import type { LogLevel } from "../../config/types.ts";
import type { Platform } from "../format/manifest.ts";

export const IMAGE_USAGE = `usage: macos-vz-kubelet image <command> [options]
  push REF --disk PATH --aux PATH --hardware-model B64|@FILE --machine-id B64|@FILE
           [--chunked] [--chunk-size MIB] [--concurrency N]       push a macOS VM image
  push REF --from DIR [--chunked]         push a Tart or macosvm VM directory
  push REF --os linux --kernel PATH [--initrd PATH] --disk PATH --cmdline TEXT
           [--chunked] [--chunk-size MIB]                          push a Linux guest image
  pull REF [-o DIR] [--concurrency N]     pull into the cache, or unpack into DIR
  inspect REF                             print the image's manifest digest, form and files
  ls                                      list images in the cache
  rm REF                                  remove an image from the cache
  prune [--unused-for HOURS]              remove cached images not in use and the
                                          leftovers of interrupted pulls
common options: --cache-dir DIR  --insecure-registries HOST[:PORT],... (repeatable)
  --registry-ca FILE (or VZK_REGISTRY_CA)  --docker-config FILE  --platform OS/ARCH
  --log-level LEVEL`;

class UsageError extends Error {}

const COMMON = {
  "cache-dir": { type: "string" },
  "insecure-registry": { type: "string", multiple: true },
  "insecure-registries": { type: "string", multiple: true },
  "registry-ca": { type: "string" },
  "docker-config": { type: "string" },
  "platform": { type: "string" },
  "log-level": { type: "string" },
  "help": { type: "boolean", short: "h" },
} as const;

interface Common {
  cacheDir: string;
  client: RegistryClient;
  log: Logger;
  platform?: Platform;
}

function common(values: Record<string, unknown>): Common {
  const level = (values["log-level"] as string | undefined) ?? "warn";
  if (!["debug", "info", "warn", "error"].includes(level)) {
    throw new UsageError(`--log-level: expected debug, info, warn or error, got "${level}"`);
  }
  const log = createLogger({ level: level as LogLevel });
  const cacheDir = (values["cache-dir"] as string | undefined) ?? Deno.env.get("VZK_CACHE_DIR") ??
    defaultCacheDir(Deno.build.os, os.homedir(), Deno.env.toObject());
  const insecure = [
    ...((values["insecure-registry"] as string[] | undefined) ?? []),
    ...((values["insecure-registries"] as string[] | undefined) ?? []),
  ]
    .flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  let platform: Platform | undefined;
  const p = values["platform"] as string | undefined;
  if (p) {
    const [osName, architecture, variant] = p.split("/");
    if (!osName || !architecture) throw new UsageError(`--platform: expected OS/ARCH, got "${p}"`);
    platform = { os: osName, architecture, ...(variant ? { variant } : {}) };
  }
  const client = new RegistryClient({
    credentials: dockerConfigCredentials(values["docker-config"] as string | undefined),
    insecureRegistries: insecure,
    // The agent's environment twin works here too, as VZK_CACHE_DIR does.
    caFile: (values["registry-ca"] as string | undefined) ||
      Deno.env.get("VZK_REGISTRY_CA") || undefined,
    log,
  });
  return { cacheDir, client, log, platform };
}

function positiveInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`${name}: expected a positive integer, got "${v}"`);
  }
  return n;
}

function oneRef(positionals: string[], sub: string) {
  if (positionals.length !== 1) throw new UsageError(`image ${sub}: expected one image reference`);
  try {
    return parseReference(positionals[0]);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** What to push: a Tart/macosvm directory (--from), or the files and data given one by one. */
async function pushInputs(v: Record<string, string | undefined>): Promise<PushInputs> {
  if (v.from !== undefined) {
    const clash = ["disk", "aux", "kernel", "initrd", "hardware-model", "machine-id", "os"]
      .filter((k) => v[k] !== undefined);
    if (clash.length > 0) {
      throw new UsageError(`image push: --from cannot be combined with --${clash.join(", --")}`);
    }
    return await readVmDir(v.from);
  }
  const guestOs = v.os ?? "darwin";
  if (guestOs !== "darwin" && guestOs !== "linux") {
    throw new UsageError(`--os: darwin or linux, got "${guestOs}"`);
  }
  const inputs: PushInputs = {
    os: guestOs,
    files: { disk: v.disk, aux: v.aux, kernel: v.kernel, initrd: v.initrd },
  };
  if (!v.disk) throw new UsageError("image push: --disk is required");
  if (guestOs === "darwin") {
    if (!v.aux) throw new UsageError("image push: --aux is required for a macOS image");
    if (!v["hardware-model"] || !v["machine-id"]) {
      throw new UsageError(
        "image push: --hardware-model and --machine-id are required for a macOS image",
      );
    }
    inputs.darwin = {
      hardwareModelData: await base64Arg(v["hardware-model"], "--hardware-model"),
      machineIdData: await base64Arg(v["machine-id"], "--machine-id"),
    };
  } else {
    if (!v.kernel) throw new UsageError("image push: --kernel is required for a Linux image");
    inputs.cmdline = v.cmdline ?? "";
    inputs.architecture = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  }
  return inputs;
}

async function push(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...COMMON,
      os: { type: "string" },
      from: { type: "string" },
      disk: { type: "string" },
      aux: { type: "string" },
      kernel: { type: "string" },
      initrd: { type: "string" },
      cmdline: { type: "string" },
      "hardware-model": { type: "string" },
      "machine-id": { type: "string" },
      chunked: { type: "boolean" },
      "chunk-size": { type: "string" },
      concurrency: { type: "string" },
      level: { type: "string" },
    },
  });
  const ref = oneRef(positionals, "push");
  const inputs = await pushInputs(values as Record<string, string | undefined>);
  const c = common(values);
  const chunkMiB = positiveInt(values["chunk-size"], "--chunk-size");
  const view = new ProgressView(stderrSink(), "push");
  try {
    const result = await pushImage(c.client, ref, inputs, {
      chunked: values.chunked ?? false,
      chunkSize: chunkMiB ? chunkMiB * 1024 * 1024 : DEFAULT_CHUNK_SIZE,
      concurrency: positiveInt(values.concurrency, "--concurrency"),
      level: positiveInt(values.level, "--level"),
      tmpDir: `${c.cacheDir}/images/tmp`,
      log: c.log,
      onProgress: (p) =>
        view.update(
          p.file,
          p.doneBytes,
          p.totalBytes,
          p.doneBytes >= p.totalBytes ? "done" : "working",
        ),
    });
    view.finish();
    console.log(`${formatReference(ref)}@${result.digest}`);
    return 0;
  } finally {
    c.client.close();
  }
}

async function pull(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...COMMON, output: { type: "string", short: "o" }, concurrency: { type: "string" } },
  });
  const ref = oneRef(positionals, "pull");
  const c = common(values);
  const concurrency = positiveInt(values.concurrency, "--concurrency");
  const view = new ProgressView(stderrSink(), "pull");
  const onProgress = (
    p: { file: string; doneBytes: number; totalBytes: number; state: string; message?: string },
  ) => {
    if (p.state === "stalled") console.error(`warning: ${p.file}: ${p.message}`);
    else view.update(p.file, p.doneBytes, p.totalBytes, p.state);
  };
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    if (values.output) {
      const r = await pullToDir(c.client, ref, values.output, {
        platform: c.platform,
        concurrency,
        onProgress,
        log: c.log,
        signal: stop.signal,
      });
      view.finish();
      console.log(
        `${formatReference(ref)}@${r.manifestDigest} -> ${values.output}: ${r.files.join(", ")}`,
      );
      return 0;
    }
    const store = await ImageStore.open(c.cacheDir);
    const r = await pullImage(c.client, store, ref, {
      platform: c.platform,
      concurrency,
      onProgress,
      log: c.log,
      signal: stop.signal,
    });
    view.finish();
    for (const name of r.replaced) {
      console.error(`warning: ${name} had changed in the cache; pulled again`);
    }
    console.log(
      `${formatReference(ref)}@${r.manifestDigest} (${formatBytes(r.downloadedBytes)} downloaded)`,
    );
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    c.client.close();
  }
}

async function simple(sub: string, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...COMMON, "unused-for": { type: "string" }, json: { type: "boolean" } },
  });
  const c = common(values);
  try {
    if (sub === "inspect") {
      console.log(await inspectImage(c.client, oneRef(positionals, sub), c.platform));
      return 0;
    }
    if (positionals.length > 0 && sub !== "rm") {
      throw new UsageError(`image ${sub}: takes no arguments`);
    }
    const store = await ImageStore.open(c.cacheDir);
    if (sub === "ls") {
      console.log(await listImages(store, values.json ?? false));
      return 0;
    }
    if (sub === "rm") {
      const ref = formatReference(oneRef(positionals, sub));
      const r = await store.removeReference(ref);
      console.log(
        r.removedImage ? `removed ${ref}` : `untagged ${ref} (image still referenced or in use)`,
      );
      return 0;
    }
    const hours = values["unused-for"] === undefined ? 0 : Number(values["unused-for"]);
    if (!Number.isFinite(hours) || hours < 0) {
      throw new UsageError(`--unused-for: expected hours, got "${values["unused-for"]}"`);
    }
    const r = await pruneImages(store, { unusedForMs: hours * 3600_000, log: c.log });
    for (const x of r.removed) {
      console.log(
        `removed ${x.references.join(", ") || x.manifestDigest} (${formatBytes(x.bytes)})`,
      );
    }
    console.log(
      `${r.removed.length} image(s) removed, ${r.keptInUse.length} kept in use, ` +
        `${r.leftoversRemoved} leftover(s) cleared`,
    );
    return 0;
  } finally {
    c.client.close();
  }
}

/** Entry point of `macos-vz-kubelet image …`; resolves with the exit status. */
export async function imageCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (
      sub === undefined || sub === "help" || sub === "--help" || sub === "-h" ||
      rest.includes("--help")
    ) {
      console.log(IMAGE_USAGE);
      return sub === undefined ? 2 : 0;
    }
    switch (sub) {
      case "push":
        return await push(rest);
      case "pull":
        return await pull(rest);
      case "inspect":
      case "ls":
      case "rm":
      case "prune":
        return await simple(sub, rest);
      default:
        throw new UsageError(`unknown image command "${sub}"`);
    }
  } catch (err) {
    const usage = err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, " ");
    console.error(`error: ${message}`);
    if (usage) console.error(`run "macos-vz-kubelet image help" for usage`);
    return usage ? 2 : 1;
  }
}
