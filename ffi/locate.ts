// Where libvzshim.dylib is: $VZK_SHIM_PATH when set (and then only there), else next to the
// executable (a release unpacked beside the binary), else the copy `deno compile --include
// objc-shim/build/libvzshim.dylib` embedded (Deno extracts it to a temporary file to open it),
// which is also the repository's build output when running from source.

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const SHIM_FILE = "libvzshim.dylib";

/** The embedded (or, from source, the repository's) build output. */
export const EMBEDDED_SHIM = new URL(`../objc-shim/build/${SHIM_FILE}`, import.meta.url);

/** The paths to try, in order. Pure. */
export function shimCandidates(
  env: { VZK_SHIM_PATH?: string },
  execPath: string,
  embedded: URL = EMBEDDED_SHIM,
): string[] {
  if (env.VZK_SHIM_PATH) return [env.VZK_SHIM_PATH];
  return [join(dirname(execPath), SHIM_FILE), fileURLToPath(embedded)];
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The first candidate that exists; throws naming every place looked at. */
export function locateShim(
  env: { VZK_SHIM_PATH?: string } = { VZK_SHIM_PATH: Deno.env.get("VZK_SHIM_PATH") },
  execPath: string = Deno.execPath(),
): string {
  const candidates = shimCandidates(env, execPath);
  const found = candidates.find(isFile);
  if (found) return found;
  throw new Error(
    `vz shim: ${SHIM_FILE} not found (looked at ${candidates.join(", ")}); build it with ` +
      `\`make -C objc-shim\` (or \`deno task build\`), or set VZK_SHIM_PATH`,
  );
}
