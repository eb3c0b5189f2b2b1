/*
 * vzshim.h: the whole C ABI of libvzshim.dylib, the thin layer between the agent (TypeScript,
 * through Deno's FFI: ffi/symbols.ts) and Apple's Virtualization framework. vzshim.m implements
 * it; nothing else in the project is Objective-C.
 *
 * Conventions (tests/unit/vz_ffi_header_test.ts parses this file and checks ffi/symbols.ts
 * against it, so keep to them):
 *
 *  - Every exported function is declared on ONE line that starts with VZK_API:
 *        VZK_API <result type> <name>(<parameters>);
 *    Nothing else starts with VZK_API.
 *  - VZK_NONBLOCKING right after VZK_API marks a function that may wait (it dispatches onto the
 *    VM's private serial queue and waits on a semaphore). Deno declares it `nonblocking: true`,
 *    so it runs on a worker thread and returns a Promise; the JS thread never waits on a VM
 *    queue. Unmarked functions return at once and may be called synchronously.
 *  - Types and their Deno FFI types: int32_t "i32", uint32_t "u32", int64_t "i64",
 *    uint64_t "u64", void (result) "void"; `const char *` (a NUL-terminated UTF-8 string the
 *    caller owns) "buffer"; `char **` (an 8-byte out slot) "buffer"; `char *` and vzk_vm_t
 *    "pointer".
 *  - A `char *` result is malloc'd UTF-8 owned by the caller, freed with vzk_free_string.
 *    For functions documented "NULL on success", a non-NULL result is an error.
 *  - Errors are JSON objects: {"domain": "VZErrorDomain", "code": 6, "message": "..."}. The
 *    shim's own errors use domain "vzshim" (codes below); Objective-C exceptions use domain
 *    "NSException".
 *  - vzk_vm_t is an opaque +1 reference to one virtual machine, released with vzk_vm_release.
 *  - The shim never calls into JS, never touches the main queue, and wraps every export in
 *    @autoreleasepool and @try/@catch.
 */
#ifndef VZSHIM_H
#define VZSHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VZK_API __attribute__((visibility("default")))
/* Marker: Deno must declare the function `nonblocking: true` (see above). Expands to nothing. */
#define VZK_NONBLOCKING

/* Bumped on every change of this file's functions or JSON formats; ffi/ refuses a mismatch. */
#define VZK_ABI_VERSION 1

/* Error codes of domain "vzshim". */
#define VZK_ERR_BAD_JSON 1         /* the description is not a JSON object */
#define VZK_ERR_BAD_DESCRIPTION 2  /* a field is missing, of the wrong type, or unusable */
#define VZK_ERR_TIMEOUT 3          /* the framework did not answer in time */
#define VZK_ERR_INVALID_STATE 4    /* the VM cannot do this in its current state */
#define VZK_ERR_UNSUPPORTED 5      /* the host lacks what the description asks for */

typedef struct vzk_vm *vzk_vm_t;

/* VZK_ABI_VERSION of the built library. */
VZK_API int32_t vzk_abi_version(void);

/*
 * Host facts as JSON: {"abi": 1, "supported": true, "macOSVersion": "15.1.1",
 * "minCpus": 1, "maxCpus": 10, "minMemoryBytes": ..., "maxMemoryBytes": ...,
 * "bridgedInterfaces": [{"identifier": "en0", "name": "Ethernet"}]}. "supported" is
 * VZVirtualMachine.isSupported; "bridgedInterfaces" is empty without com.apple.vm.networking.
 */
VZK_API char *vzk_host_info(void);

/* Whether this host can run a macOS guest of the given VZMacHardwareModel dataRepresentation
 * (base64): 1 yes, 0 no, -1 when the data is not a hardware model at all. */
VZK_API int32_t vzk_hardware_model_supported(const char *hardware_model_base64);

/* A fresh VZMacMachineIdentifier's dataRepresentation, base64; NULL if none could be made. */
VZK_API char *vzk_new_machine_identifier(void);

/*
 * Builds the VZVirtualMachineConfiguration that description_json describes (the format is
 * src/vm/vz/description.ts's VzDescription) and validates it, without creating a VM.
 * NULL on success, else an error.
 */
VZK_API char *vzk_config_validate(const char *description_json);

/*
 * Builds and validates the configuration and creates the VM on a private serial queue, in
 * state "stopped" (never started). Nonblocking: it opens the disk images and waits on the new
 * VM's queue. Returns a +1 handle, or NULL with *error_out set to an
 * error (free it with vzk_free_string).
 */
VZK_API VZK_NONBLOCKING vzk_vm_t vzk_vm_create(const char *description_json, char **error_out);

/* Lifecycle. Each waits for the framework's answer; NULL on success, else an error. */
VZK_API VZK_NONBLOCKING char *vzk_vm_start(vzk_vm_t vm);
/* Asks the guest to shut down (a power button press); returns once the request is made. */
VZK_API VZK_NONBLOCKING char *vzk_vm_request_stop(vzk_vm_t vm);
/* Stops the VM at once, as pulling the power cord would. */
VZK_API VZK_NONBLOCKING char *vzk_vm_stop(vzk_vm_t vm);
VZK_API VZK_NONBLOCKING char *vzk_vm_pause(vzk_vm_t vm);
VZK_API VZK_NONBLOCKING char *vzk_vm_resume(vzk_vm_t vm);

/*
 * The VM's last observed VZVirtualMachineState (0 stopped, 1 running, 2 paused, 3 error,
 * 4 starting, 5 pausing, 6 resuming, 7 stopping, 8 saving, 9 restoring), or -1 for a NULL
 * handle. Never waits.
 */
VZK_API int32_t vzk_vm_state(vzk_vm_t vm);

/*
 * The next event of the VM's shim-side queue as JSON, waiting at most timeout_ms for one
 * (0: do not wait); NULL when none came. Events, in the order they happened:
 *   {"type": "state", "state": "running"}      a change of VZVirtualMachine.state (names as
 *                                               in vzk_vm_state's list)
 *   {"type": "guest-stopped"}                  guestDidStopVirtualMachine:
 *   {"type": "stopped-with-error", "error": {...}}     virtualMachine:didStopWithError:
 *   {"type": "network-disconnected", "error": {...}}   a network attachment was disconnected
 * After vzk_vm_release has begun, returns NULL at once.
 */
VZK_API VZK_NONBLOCKING char *vzk_vm_next_event(vzk_vm_t vm, int32_t timeout_ms);

/* Drops the handle's reference (the VM should be stopped first). NULL is ignored. */
VZK_API void vzk_vm_release(vzk_vm_t vm);

/* Frees a string this library returned. NULL is ignored. */
VZK_API void vzk_free_string(char *s);

/* clonefile(src, dst, 0): a copy-on-write clone on APFS. 0, or -errno on failure. */
VZK_API int32_t vzk_clonefile(const char *src, const char *dst);

#ifdef __cplusplus
}
#endif

#endif /* VZSHIM_H */
