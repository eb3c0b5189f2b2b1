// Finding and ending what one SSH command started in a guest. sshd (or dropbear, which shares
// one session per connection) gives no handle on a command's processes, and closing the
// channel leaves a command that does not read stdin running. So each command line first
// prints its shell's pid behind a marker on the stream it writes first; the marker is taken
// out of the output, and when the caller goes away the agent stops that pid's whole process
// tree with plain POSIX tools (ps, awk, kill: present in busybox and on macOS).

const MARKER = "__vzk_exec_pid=";
const MARKER_LINE = /__vzk_exec_pid=(\d+)\r?\n/;
/** How much output may come before the marker (a noisy shell profile) before we stop looking. */
const LOOK_LIMIT = 4096;

/**
 * `line` with its pid announced first. With `execs`, the line is a simple command that
 * replaces the shell (the pid is then the command's own); otherwise the shell runs it.
 */
export function trackedLine(line: string, execs: boolean): string {
  return `printf '${MARKER}%s\\n' "$$" >&2; ${execs ? "exec " : ""}${line}`;
}

/** A sink that takes the marker out of the first output and reports the pid in it. */
export function markerFilter(
  sink: ((chunk: Uint8Array) => void | Promise<void>) | undefined,
  onPid: (pid: number) => void,
): { write(chunk: Uint8Array): void | Promise<void>; flush(): void | Promise<void> } {
  let looking = true;
  let held = new Uint8Array(0);
  const pass = (chunk: Uint8Array) => chunk.byteLength ? sink?.(chunk) : undefined;
  return {
    write(chunk) {
      if (!looking) return pass(chunk);
      const joined = new Uint8Array(held.byteLength + chunk.byteLength);
      joined.set(held);
      joined.set(chunk, held.byteLength);
      // latin1 keeps one character per byte, so indexes in the text are byte offsets.
      const text = new TextDecoder("latin1").decode(joined);
      const m = MARKER_LINE.exec(text);
      if (m) {
        looking = false;
        held = new Uint8Array(0);
        onPid(Number(m[1]));
        const rest = new Uint8Array(joined.byteLength - m[0].length);
        rest.set(joined.subarray(0, m.index));
        rest.set(joined.subarray(m.index + m[0].length), m.index);
        return pass(rest);
      }
      if (joined.byteLength > LOOK_LIMIT) {
        looking = false;
        held = new Uint8Array(0);
        return pass(joined);
      }
      held = joined;
    },
    flush() {
      looking = false;
      const rest = held;
      held = new Uint8Array(0);
      return pass(rest);
    },
  };
}

/**
 * A shell script that stops `pid` and every process below it (each stopped first, so none
 * can fork out of reach while the tree is listed), then kills them all.
 */
export function killTreeScript(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`not a process to kill: ${pid}`);
  const below = `ps -A -o pid= -o ppid= | awk -v r=${pid} ` +
    `'{ up[$1] = $2 } END { for (p in up) { x = p; n = 0; ` +
    `while (x != r && x != "" && x != 0 && n < 128) { x = up[x]; n++ } if (x == r) print p } }'`;
  return [
    `all=""`,
    `i=0`,
    `while [ $i -lt 10 ]; do`,
    `  more=0`,
    `  for p in $(${below}); do`,
    `    case " $all " in *" $p "*) ;; *) all="$all $p"; more=1; kill -STOP $p 2>/dev/null ;; esac`,
    `  done`,
    `  [ $more = 0 ] && break`,
    `  i=$((i + 1))`,
    `done`,
    `[ -n "$all" ] && kill -KILL $all 2>/dev/null`,
    `true`,
  ].join("\n");
}
