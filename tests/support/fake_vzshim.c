/*
 * A stand-in for libvzshim.dylib on Linux: the ABI of objc-shim/vzshim.h in plain C, without
 * any virtual machine, so ffi/shim.ts (dlopen, strings in and out, freeing, nonblocking calls,
 * the error out-slot, the event queue) runs for real in tests/unit/vz_ffi_native_test.ts.
 * Compiled against the real header, so a signature that drifts from it does not build.
 * fake_outstanding() (not part of the ABI) counts strings handed out and not yet freed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vzshim.h"

#ifndef FAKE_ABI
#define FAKE_ABI VZK_ABI_VERSION
#endif

static int outstanding = 0;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static char *out(const char *s) {
    pthread_mutex_lock(&count_lock);
    outstanding++;
    pthread_mutex_unlock(&count_lock);
    return strdup(s);
}

int32_t fake_outstanding(void) {
    return outstanding;
}

struct vzk_vm {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;
    const char *events[32];
    int head, tail;
    int closed;
};

static void push(struct vzk_vm *vm, const char *event) {
    pthread_mutex_lock(&vm->lock);
    vm->events[vm->tail++ % 32] = event;
    pthread_cond_signal(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

int32_t vzk_abi_version(void) {
    return FAKE_ABI;
}

char *vzk_host_info(void) {
    return out("{\"abi\":1,\"supported\":true,\"macOSVersion\":\"15.1.1\",\"minCpus\":1,"
               "\"maxCpus\":10,\"minMemoryBytes\":134217728,\"maxMemoryBytes\":68719476736,"
               "\"bridgedInterfaces\":[{\"identifier\":\"en0\",\"name\":\"Ethernet\"}]}");
}

int32_t vzk_hardware_model_supported(const char *b64) {
    if (strcmp(b64, "AQID") == 0) return 1;
    if (strcmp(b64, "bad") == 0) return -1;
    return 0;
}

char *vzk_new_machine_identifier(void) {
    return out("bmV3LWlk");
}

char *vzk_config_validate(const char *json) {
    if (!strstr(json, "\"cpus\":99")) return NULL; /* 99 CPUs: the scripted refusal */
    return out("{\"domain\":\"VZErrorDomain\",\"code\":2,\"message\":\"Invalid virtual machine "
               "configuration. Virtualization is not available on this hardware.\"}");
}

vzk_vm_t vzk_vm_create(const char *json, char **error_out) {
    usleep(20 * 1000);
    if (strstr(json, "\"cpus\":98")) { /* 98 CPUs: the scripted failure */
        *error_out = out("{\"domain\":\"vzshim\",\"code\":2,\"message\":\"description .cpus: "
                         "missing\"}");
        return NULL;
    }
    struct vzk_vm *vm = calloc(1, sizeof *vm);
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    return vm;
}

char *vzk_vm_start(vzk_vm_t vm) {
    if (vm->state != 0) return out("{\"domain\":\"vzshim\",\"code\":4,\"message\":\"cannot start\"}");
    push(vm, "{\"type\":\"state\",\"state\":\"starting\"}");
    usleep(200 * 1000); /* a long call: the JS thread must stay free meanwhile */
    vm->state = 1;
    push(vm, "{\"type\":\"state\",\"state\":\"running\"}");
    return NULL;
}

char *vzk_vm_request_stop(vzk_vm_t vm) {
    if (vm->state != 1) {
        return out("{\"domain\":\"vzshim\",\"code\":4,\"message\":\"cannot request a stop\"}");
    }
    vm->state = 0;
    push(vm, "{\"type\":\"state\",\"state\":\"stopped\"}");
    push(vm, "{\"type\":\"guest-stopped\"}");
    return NULL;
}

char *vzk_vm_stop(vzk_vm_t vm) {
    vm->state = 0;
    push(vm, "{\"type\":\"state\",\"state\":\"stopped\"}");
    return NULL;
}

char *vzk_vm_pause(vzk_vm_t vm) {
    if (vm->state != 1) return out("{\"domain\":\"vzshim\",\"code\":4,\"message\":\"cannot pause\"}");
    vm->state = 2;
    return NULL;
}

char *vzk_vm_resume(vzk_vm_t vm) {
    if (vm->state != 2) return out("{\"domain\":\"vzshim\",\"code\":4,\"message\":\"cannot resume\"}");
    vm->state = 1;
    return NULL;
}

int32_t vzk_vm_state(vzk_vm_t vm) {
    return vm == NULL ? -1 : vm->state;
}

char *vzk_vm_next_event(vzk_vm_t vm, int32_t timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&vm->lock);
    while (vm->head == vm->tail && !vm->closed) {
        if (pthread_cond_timedwait(&vm->cond, &vm->lock, &until) == ETIMEDOUT) break;
    }
    const char *event = vm->head != vm->tail ? vm->events[vm->head++ % 32] : NULL;
    pthread_mutex_unlock(&vm->lock);
    return event ? out(event) : NULL;
}

void vzk_vm_release(vzk_vm_t vm) {
    if (vm == NULL) return;
    pthread_mutex_destroy(&vm->lock);
    pthread_cond_destroy(&vm->cond);
    free(vm);
}

void vzk_free_string(char *s) {
    if (s == NULL) return;
    pthread_mutex_lock(&count_lock);
    outstanding--;
    pthread_mutex_unlock(&count_lock);
    free(s);
}

int32_t vzk_clonefile(const char *src, const char *dst) {
    (void)dst;
    if (access(src, R_OK) != 0) return -errno;
    return -45; /* ENOTSUP, as on a volume that is not APFS */
}
