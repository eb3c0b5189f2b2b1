// Turning argv into one shell command line for SSH (which carries a single string):
// every argument single-quoted, so no argument can inject shell syntax.

/** POSIX-shell single-quoting of one argument. */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'"'"'`)}'`;
}

/** `env K=V ... argv...` as one command line; env names are validated, values quoted. */
export function commandLine(argv: string[], env: Record<string, string> = {}): string {
  const assignments = Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`env: "${k}" is not a variable name`);
    return `${k}=${shellQuote(v)}`;
  });
  const words = argv.map(shellQuote);
  return assignments.length ? `env ${assignments.join(" ")} ${words.join(" ")}` : words.join(" ");
}
