// Progress of pulls and pushes for people: on a terminal, one redrawn line per file and a
// total (bytes, rate, ETA); otherwise a plain log line per file at every 25 % and when done,
// so CI logs stay readable.

export interface ProgressSink {
  isTerminal: boolean;
  write(text: string): void;
  /** Columns of the terminal (for truncation). */
  columns?: number;
}

interface Row {
  name: string;
  done: number;
  total: number;
  started: number;
  state: string;
  lastQuarter: number;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n: number): string {
  let v = Math.max(0, n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${UNITS[u]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function describe(
  name: string,
  done: number,
  total: number,
  seconds: number,
  state: string,
): string {
  const rate = seconds > 0 ? done / seconds : 0;
  const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  const tail = state === "downloading" || state === "working"
    ? `${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`
    : state;
  return `${name.padEnd(12)} ${formatBytes(done).padStart(10)} / ${
    formatBytes(total).padEnd(10)
  } ` +
    `${String(pct).padStart(3)}%  ${tail}`;
}

export class ProgressView {
  #rows = new Map<string, Row>();
  #drawn = 0;
  #lastDraw = 0;
  #started = Date.now();

  constructor(private sink: ProgressSink, private verb: string) {}

  update(name: string, done: number, total: number, state = "working"): void {
    let row = this.#rows.get(name);
    if (!row) {
      row = { name, done: 0, total, started: Date.now(), state, lastQuarter: -1 };
      this.#rows.set(name, row);
    }
    row.done = done;
    row.total = total;
    row.state = state;
    if (this.sink.isTerminal) {
      const now = Date.now();
      if (now - this.#lastDraw >= 100 || state !== "working" && state !== "downloading") {
        this.#draw();
        this.#lastDraw = now;
      }
      return;
    }
    const quarter = total > 0 ? Math.floor((done / total) * 4) : 4;
    const finished = state === "verified" || state === "cached" || state === "done";
    if (quarter > row.lastQuarter || finished) {
      if (finished && row.lastQuarter === 5) return;
      row.lastQuarter = finished ? 5 : quarter;
      const secs = (Date.now() - row.started) / 1000;
      this.sink.write(`${this.verb} ${describe(name, done, total, secs, state)}\n`);
    }
  }

  #lines(): string[] {
    const now = Date.now();
    const lines = [...this.#rows.values()].map((r) =>
      describe(r.name, r.done, r.total, (now - r.started) / 1000, r.state)
    );
    const done = [...this.#rows.values()].reduce((n, r) => n + r.done, 0);
    const total = [...this.#rows.values()].reduce((n, r) => n + r.total, 0);
    lines.push(describe("total", done, total, (now - this.#started) / 1000, "working"));
    const width = (this.sink.columns ?? 100) - 1;
    return lines.map((l) => l.slice(0, width));
  }

  #draw(): void {
    const lines = this.#lines();
    let out = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : "";
    for (const l of lines) out += `\x1b[2K${l}\n`;
    this.#drawn = lines.length;
    this.sink.write(out);
  }

  /** Final redraw on a terminal. */
  finish(): void {
    if (this.sink.isTerminal && this.#rows.size > 0) this.#draw();
  }
}

/** A sink on stderr that knows whether stderr is a terminal. */
export function stderrSink(): ProgressSink {
  const isTerminal = Deno.stderr.isTerminal();
  let columns = 100;
  if (isTerminal) {
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      // not a console after all
    }
  }
  const enc = new TextEncoder();
  return { isTerminal, columns, write: (t) => Deno.stderr.writeSync(enc.encode(t)) };
}
