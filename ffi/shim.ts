// The VzShim over the real libvzshim.dylib (macOS only): opens it with Deno.dlopen, checks its
// ABI version, passes strings in as NUL-terminated buffers, copies every returned string and
// frees it with vzk_free_string, and turns error strings into ShimError. VM handles wait for
// their calls in flight before they are released, so the shim never sees a freed handle.

import { locateShim } from "./locate.ts";
import { parseEvent, parseHostInfo, parseShimError, stateName } from "./codec.ts";
import { VZSHIM_ABI_VERSION, VZSHIM_SYMBOLS, type VzShimLibrary } from "./symbols.ts";
import type { VzEvent, VzHostInfo, VzMachineState, VzShim, VzVmHandle } from "./types.ts";

const encoder = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `s` for a `const char *` parameter. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new Error(`vz shim: string contains NUL: ${JSON.stringify(s)}`);
  return encoder.encode(`${s}\0`);
}

/** Opens the dylib (default: locateShim()) and wraps it. */
export function openVzShim(path: string = locateShim()): VzShim {
  let lib: VzShimLibrary;
  try {
    lib = Deno.dlopen(path, VZSHIM_SYMBOLS);
  } catch (err) {
    throw new Error(`vz shim: cannot load ${path}: ${err instanceof Error ? err.message : err}`);
  }
  const abi = lib.symbols.vzk_abi_version();
  if (abi !== VZSHIM_ABI_VERSION) {
    lib.close();
    throw new Error(
      `vz shim: ${path} has ABI version ${abi}, this agent needs ${VZSHIM_ABI_VERSION}; ` +
        `rebuild it with \`make -C objc-shim\``,
    );
  }
  const s = lib.symbols;

  /** Copies and frees a returned string; undefined for NULL. */
  const take = (p: Deno.PointerValue): string | undefined => {
    if (p === null) return undefined;
    try {
      return Deno.UnsafePointerView.getCString(p);
    } finally {
      s.vzk_free_string(p);
    }
  };
  /** For "NULL on success" results. */
  const check = (p: Deno.PointerValue) => {
    const text = take(p);
    if (text !== undefined) throw parseShimError(text);
  };

  return {
    hostInfo(): VzHostInfo {
      const text = take(s.vzk_host_info());
      if (text === undefined) throw new Error("vz shim: vzk_host_info returned nothing");
      return parseHostInfo(text);
    },
    hardwareModelSupported(b64: string): boolean | undefined {
      const r = s.vzk_hardware_model_supported(cString(b64));
      return r < 0 ? undefined : r === 1;
    },
    newMachineIdentifier(): string {
      const id = take(s.vzk_new_machine_identifier());
      if (!id) throw new Error("vz shim: could not make a machine identifier");
      return id;
    },
    validateConfiguration(json: string): void {
      check(s.vzk_config_validate(cString(json)));
    },
    async createVm(json: string): Promise<VzVmHandle> {
      const errorOut = new BigUint64Array(1);
      const handle = await s.vzk_vm_create(cString(json), errorOut);
      if (handle === null) {
        const text = take(Deno.UnsafePointer.create(errorOut[0]));
        throw parseShimError(text ?? "vzk_vm_create failed without an error");
      }
      return vmHandle(lib, handle, check, take);
    },
    clonefile(src: string, dst: string): number {
      return s.vzk_clonefile(cString(src), cString(dst));
    },
  };
}

function vmHandle(
  lib: VzShimLibrary,
  handle: Deno.PointerObject,
  check: (p: Deno.PointerValue) => void,
  take: (p: Deno.PointerValue) => string | undefined,
): VzVmHandle {
  const s = lib.symbols;
  const inFlight = new Set<Promise<unknown>>();
  let released = false;

  /** Runs a nonblocking call unless released, and remembers it until it settles. */
  function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (released) return Promise.reject(new Error(`vz shim: ${what}: the VM was released`));
    const p = fn();
    inFlight.add(p);
    const forget = () => inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }
  const op = (what: string, fn: () => Promise<Deno.PointerValue>) => call(what, fn).then(check);

  return {
    start: () => op("start", () => s.vzk_vm_start(handle)),
    requestStop: () => op("request stop", () => s.vzk_vm_request_stop(handle)),
    stop: () => op("stop", () => s.vzk_vm_stop(handle)),
    pause: () => op("pause", () => s.vzk_vm_pause(handle)),
    resume: () => op("resume", () => s.vzk_vm_resume(handle)),
    state(): VzMachineState {
      return released ? "unknown" : stateName(s.vzk_vm_state(handle));
    },
    async nextEvent(timeoutMs: number): Promise<VzEvent | undefined> {
      if (released) return undefined;
      const ms = Math.max(0, Math.min(60_000, Math.floor(timeoutMs)));
      const text = take(await call("next event", () => s.vzk_vm_next_event(handle, ms)));
      return text === undefined ? undefined : parseEvent(text);
    },
    async release(): Promise<void> {
      if (released) return;
      released = true;
      await Promise.allSettled([...inFlight]);
      s.vzk_vm_release(handle);
    },
  };
}
