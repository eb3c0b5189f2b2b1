// The facts about this machine that configuration parsing needs (parse.ts stays pure and
// takes them as an argument): OS, home directory, host name, and a file-existence check.

import os from "node:os";
import type { HostFacts } from "./parse.ts";

export function localHost(): HostFacts {
  return {
    os: Deno.build.os,
    homeDir: os.homedir(),
    hostname: os.hostname(),
    pathExists: (p) => {
      try {
        Deno.statSync(p);
        return true;
      } catch {
        return false;
      }
    },
  };
}
