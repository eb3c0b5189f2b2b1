// Turning argv into one shell command line for SSH (which carries a single string):
// every argument single-quoted, so no argument can inject shell syntax.

/** POSIX-shell single-quoting of one argument. */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'"'"'`)}'`;
}

/**
 * `env 'K=V' ... argv...` as one command line. Each `K=V` is one quoted word for env(1), not a
 * shell assignment, so any name the API allows works (`my.dotted-var`); names are never
 * interpreted by the shell. A name starting with "-" is kept from env's options by "--".
 */
export function commandLine(argv: string[], env: Record<string, string> = {}): string {
  const pairs = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`));
  const words = argv.map(shellQuote);
  if (!pairs.length) return words.join(" ");
  const dashes = Object.keys(env).some((k) => k.startsWith("-")) ? "-- " : "";
  return `env ${dashes}${pairs.join(" ")} ${words.join(" ")}`;
}
