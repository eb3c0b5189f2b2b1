// The Deno.dlopen symbol table of libvzshim.dylib: one entry per VZK_API line of
// objc-shim/vzshim.h, with the types that header's conventions map to, and `nonblocking: true`
// exactly where the header says VZK_NONBLOCKING. tests/unit/vz_ffi_header_test.ts parses the
// header and checks this table against it.

/** The header's VZK_ABI_VERSION this table was written for. */
export const VZSHIM_ABI_VERSION = 1;

export const VZSHIM_SYMBOLS = {
  vzk_abi_version: { parameters: [], result: "i32" },
  vzk_host_info: { parameters: [], result: "pointer" },
  vzk_hardware_model_supported: { parameters: ["buffer"], result: "i32" },
  vzk_new_machine_identifier: { parameters: [], result: "pointer" },
  vzk_config_validate: { parameters: ["buffer"], result: "pointer" },
  vzk_vm_create: { parameters: ["buffer", "buffer"], result: "pointer", nonblocking: true },
  vzk_vm_start: { parameters: ["pointer"], result: "pointer", nonblocking: true },
  vzk_vm_request_stop: { parameters: ["pointer"], result: "pointer", nonblocking: true },
  vzk_vm_stop: { parameters: ["pointer"], result: "pointer", nonblocking: true },
  vzk_vm_pause: { parameters: ["pointer"], result: "pointer", nonblocking: true },
  vzk_vm_resume: { parameters: ["pointer"], result: "pointer", nonblocking: true },
  vzk_vm_state: { parameters: ["pointer"], result: "i32" },
  vzk_vm_next_event: { parameters: ["pointer", "i32"], result: "pointer", nonblocking: true },
  vzk_vm_release: { parameters: ["pointer"], result: "void" },
  vzk_free_string: { parameters: ["pointer"], result: "void" },
  vzk_clonefile: { parameters: ["buffer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

export type VzShimLibrary = Deno.DynamicLibrary<typeof VZSHIM_SYMBOLS>;
