// Child processes of the test world: spawning with output captured to a log file, tracking
// every live child so none survives the test process, and stopping them (SIGTERM, then
// SIGKILL). Owns the process-wide SIGINT/SIGTERM/unload handlers of the harness.

export interface Child {
  name: string;
  pid: number;
  logPath: string;
  /** Resolves with the exit code once the process has exited (and its output is flushed). */
  exited: Promise<number>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** SIGTERM, SIGKILL after graceMs; resolves when the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  logPath: string;
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  /**
   * Runs it in a session of its own (setsid), out of the terminal's process group, so Ctrl-C
   * reaches only its owner, which stops it in order (dockerd must outlive its containers).
   */
  newSession?: boolean;
}

type ShutdownHook = () => Promise<void>;

const liveChildren: Map<number, Deno.ChildProcess> = new Map();
const shutdownHooks: Set<ShutdownHook> = new Set();
let handlersInstalled = false;
let setprivPath: string | null | undefined;

/** util-linux `setpriv --pdeathsig`: the kernel kills the child if the test process dies hard. */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (Deno.build.os !== "linux") return setprivPath;
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      Deno.statSync(`${dir}/setpriv`);
      setprivPath = `${dir}/setpriv`;
      break;
    } catch {
      // not here
    }
  }
  return setprivPath;
}

function killAllSync(signal: Deno.Signal): void {
  for (const [pid, proc] of liveChildren) {
    try {
      proc.kill(signal);
    } catch {
      // already gone
    }
    liveChildren.delete(pid);
  }
}

async function shutdownAndExit(code: number): Promise<void> {
  const hooks = [...shutdownHooks];
  shutdownHooks.clear();
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, 8000));
  await Promise.race([Promise.allSettled(hooks.map((hook) => hook())), deadline]);
  killAllSync("SIGKILL");
  Deno.exit(code);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  globalThis.addEventListener("unload", () => killAllSync("SIGKILL"));
  if (Deno.build.os === "windows") return;
  Deno.addSignalListener("SIGINT", () => void shutdownAndExit(130));
  Deno.addSignalListener("SIGTERM", () => void shutdownAndExit(143));
}

/** Runs `hook` (e.g. a cluster's stop) when the process gets SIGINT/SIGTERM. */
export function addShutdownHook(hook: ShutdownHook): () => void {
  installHandlers();
  shutdownHooks.add(hook);
  return () => shutdownHooks.delete(hook);
}

async function pump(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  for await (const chunk of stream) {
    let written = 0;
    while (written < chunk.length) written += await file.write(chunk.subarray(written));
  }
}

/** Starts a process with stdout and stderr appended to opts.logPath. */
export async function spawnLogged(opts: SpawnOptions): Promise<Child> {
  installHandlers();
  const log = await Deno.open(opts.logPath, { create: true, append: true });
  const setpriv = findSetpriv();
  const inner = opts.newSession
    ? ["setsid", opts.command, ...opts.args]
    : [opts.command, ...opts.args];
  const command = setpriv ?? inner[0];
  const args = setpriv ? ["--pdeathsig", "SIGKILL", "--", ...inner] : inner.slice(1);
  const proc = new Deno.Command(command, {
    args,
    env: opts.env,
    clearEnv: opts.clearEnv ?? false,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pid = proc.pid;
  liveChildren.set(pid, proc);
  let done = false;
  const pumps = Promise.all([pump(proc.stdout, log), pump(proc.stderr, log)]);
  const exited = (async (): Promise<number> => {
    const status = await proc.status;
    done = true;
    liveChildren.delete(pid);
    await pumps.catch(() => {});
    log.close();
    return status.code;
  })();

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (done) return await exited.then(() => {});
      try {
        proc.kill("SIGTERM");
      } catch {
        // raced with exit
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), graceMs);
      });
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (result === "timeout") {
        try {
          proc.kill("SIGKILL");
        } catch {
          // raced with exit
        }
      }
      await exited;
    })();
    return stopping;
  };

  return { name: opts.name, pid, logPath: opts.logPath, exited, hasExited: () => done, stop };
}

/** The last `lines` lines of a log file ("" when unreadable). */
export async function tailLog(path: string, lines = 30): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.split("\n").slice(-lines - 1).join("\n").trimEnd();
  } catch {
    return "";
  }
}

/** Rejects as soon as one of `children` exits, naming it and quoting the end of its log. */
export function failOnExit(children: Child[]): { promise: Promise<never>; cancel: () => void } {
  let cancelled = false;
  const promise = new Promise<never>((_, reject) => {
    for (const child of children) {
      child.exited.then(async (code) => {
        if (cancelled) return;
        const tail = await tailLog(child.logPath);
        reject(new Error(`${child.name} exited with code ${code} during startup:\n${tail}`));
      });
    }
  });
  promise.catch(() => {});
  return { promise, cancel: () => (cancelled = true) };
}

/** True when /proc shows a live (non-zombie) process with this pid (Linux only). */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
