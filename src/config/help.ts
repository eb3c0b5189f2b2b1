// `--help` text of `serve`, generated from the option table in options.ts so it lists exactly
// what parse.ts reads: every flag and environment variable, what it accepts and its default.

import {
  acceptsText,
  defaultText,
  GROUP_TITLES,
  type OptionGroup,
  OPTIONS,
  type OptionSpec,
} from "./options.ts";

const WIDTH = 100;
const INDENT = "      ";

const INTRO = [
  "macos-vz-kubelet: a Kubernetes node for Mac hosts. Each pod's first container runs as a " +
  "virtual machine (Apple's Virtualization framework on macOS, QEMU on Linux); the pod's " +
  "other containers run in Docker beside it.",
  "",
  "Options take the form --name=value or --name value. A boolean flag alone means true " +
  "(--disable-taint); --disable-taint=false turns it off. Every flag can also be set with the " +
  "environment variable shown beside it; the flag wins. Settings without a flag are read from " +
  "the environment only. An empty variable counts as unset. Durations are whole seconds (90) " +
  "or Go durations (30s, 2m, 1h30m).",
];

/** The whole help text, ending with a newline. */
export function helpText(): string {
  const lines: string[] = INTRO.flatMap((p) => p === "" ? [""] : wrap(p, ""));
  for (const group of Object.keys(GROUP_TITLES) as OptionGroup[]) {
    const specs = OPTIONS.filter((o) => o.group === group);
    if (specs.length === 0) continue;
    lines.push("", GROUP_TITLES[group] + ":");
    for (const spec of specs) lines.push(...optionLines(spec));
  }
  lines.push("", "  -h, --help", INDENT + "Print this help and exit.");
  return lines.join("\n") + "\n";
}

/** `--flag=VALUE  (env VZK_FLAG)` when it fits, else the variable on a line of its own. */
function optionLines(spec: OptionSpec): string[] {
  const usage = spec.flag ? flagUsage(spec) : `${spec.env}=${spec.valueName}`;
  const where = spec.flag ? `(env ${spec.env})` : "(environment only)";
  const oneLine = `  ${usage}    ${where}`;
  const head = oneLine.length <= WIDTH ? [oneLine] : [`  ${usage}`, INDENT + where];
  const parts = [spec.description];
  if (spec.kind !== "string" || spec.format) parts.push(`Accepts ${acceptsText(spec)}.`);
  parts.push(`Default: ${defaultText(spec)}.`);
  if (spec.secret) parts.push("Secret: never logged or shown in error messages.");
  return [...head, ...wrap(parts.join(" "), INDENT)];
}

function flagUsage(spec: OptionSpec): string {
  return spec.kind === "bool"
    ? `--${spec.flag}[=${spec.valueName}]`
    : `--${spec.flag}=${spec.valueName}`;
}

/** Greedy word wrap to WIDTH columns, every line starting with `indent`. */
function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const word of text.split(/\s+/)) {
    if (line.length > indent.length && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = indent;
    }
    line += (line.length > indent.length ? " " : "") + word;
  }
  if (line.length > indent.length) lines.push(line);
  return lines;
}
