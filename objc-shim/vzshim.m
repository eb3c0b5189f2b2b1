// vzshim.m: implements vzshim.h over Apple's Virtualization framework. It turns the JSON VM
// description the agent assembles (src/vm/vz/description.ts) into a
// VZVirtualMachineConfiguration, holds each VM on its own private serial queue, and queues the
// VM's state changes and delegate events for JS to drain. It never calls into JS and never
// touches the main queue (Deno runs no main run loop). Every export is wrapped in
// @autoreleasepool and @try/@catch and reports failures as JSON error strings.

#import <Foundation/Foundation.h>
#import <Virtualization/Virtualization.h>
#include <dispatch/dispatch.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/clonefile.h>

#include "vzshim.h"

// How long a lifecycle call waits for the framework's completion handler.
static const int64_t kStartTimeoutSeconds = 300;
static const int64_t kStopTimeoutSeconds = 120;
static const int64_t kPauseTimeoutSeconds = 60;

static NSString *const kShimDomain = @"vzshim";
static void *kStateContext = &kStateContext;

// ---------------------------------------------------------------------------------------------
// Strings and errors

static char *copy_bytes(const void *bytes, NSUInteger length) {
    char *out = malloc(length + 1);
    if (out == NULL) return NULL;
    if (length > 0) memcpy(out, bytes, length);
    out[length] = '\0';
    return out;
}

static char *copy_string(NSString *s) {
    const char *utf8 = s.UTF8String;
    return copy_bytes(utf8 ? utf8 : "", utf8 ? strlen(utf8) : 0);
}

static NSString *string_from_c(const char *s) {
    if (s == NULL) return nil;
    return [NSString stringWithUTF8String:s];
}

// JSON text of a dictionary or array; nil if it cannot be encoded.
static NSString *json_text(id object) {
    NSData *data = [NSJSONSerialization dataWithJSONObject:object options:0 error:NULL];
    if (data == nil) return nil;
    return [[NSString alloc] initWithData:data encoding:NSUTF8StringEncoding];
}

static char *json_cstring(id object) {
    NSString *text = json_text(object);
    if (text == nil) {
        const char *fallback =
            "{\"domain\":\"vzshim\",\"code\":2,\"message\":\"result could not be encoded as JSON\"}";
        return copy_bytes(fallback, strlen(fallback));
    }
    return copy_string(text);
}

static NSError *shim_error(NSInteger code, NSString *message) {
    return [NSError errorWithDomain:kShimDomain
                               code:code
                           userInfo:@{NSLocalizedDescriptionKey : message}];
}

// The error as a JSON-ready dictionary: domain, code, and a message that carries the failure
// reason and the underlying error too (the framework often puts the useful part there).
static NSDictionary *error_dict(NSError *error) {
    if (error == nil) {
        return @{@"domain" : kShimDomain, @"code" : @(0), @"message" : @"unknown error"};
    }
    NSMutableString *message = [NSMutableString stringWithString:error.localizedDescription ?: @""];
    NSString *reason = error.localizedFailureReason;
    if (reason.length > 0 && ![message containsString:reason]) {
        [message appendFormat:@" (%@)", reason];
    }
    NSError *underlying = error.userInfo[NSUnderlyingErrorKey];
    if ([underlying isKindOfClass:[NSError class]]) {
        [message appendFormat:@"; underlying: %@ %ld: %@", underlying.domain, (long)underlying.code,
                              underlying.localizedDescription];
    }
    return @{@"domain" : error.domain ?: kShimDomain, @"code" : @(error.code), @"message" : message};
}

static char *error_json(NSError *error) {
    return json_cstring(error_dict(error));
}

static NSError *exception_error(NSException *exception) {
    NSString *message =
        [NSString stringWithFormat:@"%@: %@", exception.name, exception.reason ?: @"(no reason)"];
    return [NSError errorWithDomain:@"NSException"
                               code:-1
                           userInfo:@{NSLocalizedDescriptionKey : message}];
}

static NSString *state_name(NSInteger state) {
    switch (state) {
        case VZVirtualMachineStateStopped: return @"stopped";
        case VZVirtualMachineStateRunning: return @"running";
        case VZVirtualMachineStatePaused: return @"paused";
        case VZVirtualMachineStateError: return @"error";
        case VZVirtualMachineStateStarting: return @"starting";
        case VZVirtualMachineStatePausing: return @"pausing";
        case VZVirtualMachineStateResuming: return @"resuming";
        case 7: return @"stopping";   // VZVirtualMachineStateStopping (macOS 12)
        case 8: return @"saving";     // VZVirtualMachineStateSaving (macOS 14)
        case 9: return @"restoring";  // VZVirtualMachineStateRestoring (macOS 14)
        default: return [NSString stringWithFormat:@"unknown-%ld", (long)state];
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the JSON description

// The value at `key` if it is of class `cls`; nil and no error when absent (or JSON null) and
// not required; nil with *error set otherwise.
static id field(NSDictionary *object, NSString *key, Class cls, BOOL required, NSString *where,
                NSError **error) {
    id value = object[key];
    if (value == nil || value == [NSNull null]) {
        if (required && error != NULL) {
            *error = shim_error(VZK_ERR_BAD_DESCRIPTION,
                                [NSString stringWithFormat:@"description %@.%@: missing", where, key]);
        }
        return nil;
    }
    if (![value isKindOfClass:cls]) {
        if (error != NULL) {
            *error = shim_error(VZK_ERR_BAD_DESCRIPTION,
                                [NSString stringWithFormat:@"description %@.%@: expected %@",
                                                           where, key, NSStringFromClass(cls)]);
        }
        return nil;
    }
    return value;
}

static NSError *bad(NSString *message) {
    return shim_error(VZK_ERR_BAD_DESCRIPTION, [@"description " stringByAppendingString:message]);
}

// The element `i` of a description array, which must be an object (else *error is set).
static NSDictionary *object_at(NSArray *array, NSUInteger i, NSString *where, NSError **error) {
    id value = array[i];
    if ([value isKindOfClass:[NSDictionary class]]) return value;
    *error = bad([where stringByAppendingString:@": expected an object"]);
    return nil;
}

static NSURL *file_url(NSString *path) {
    return [NSURL fileURLWithPath:path];
}

static NSData *base64_data(NSString *text) {
    return [[NSData alloc] initWithBase64EncodedString:text options:0];
}

static NSDictionary *parse_description(const char *json, NSError **error) {
    if (json == NULL) {
        *error = shim_error(VZK_ERR_BAD_JSON, @"description: NULL");
        return nil;
    }
    NSData *data = [NSData dataWithBytes:json length:strlen(json)];
    NSError *parseError = nil;
    id object = [NSJSONSerialization JSONObjectWithData:data options:0 error:&parseError];
    if (![object isKindOfClass:[NSDictionary class]]) {
        NSString *why = parseError.localizedDescription ?: @"not a JSON object";
        *error = shim_error(VZK_ERR_BAD_JSON, [@"description: " stringByAppendingString:why]);
        return nil;
    }
    return object;
}

// ---------------------------------------------------------------------------------------------
// Description -> configuration, one part at a time. Each returns NO and sets *error on failure.

static BOOL add_boot_loader(VZVirtualMachineConfiguration *config, NSDictionary *boot,
                            NSError **error) {
    NSString *kind = field(boot, @"kind", [NSString class], YES, @"boot", error);
    if (kind == nil) return NO;
    if ([kind isEqualToString:@"macos"]) {
#if defined(__arm64__)
        config.bootLoader = [[VZMacOSBootLoader alloc] init];
        return YES;
#else
        *error = shim_error(VZK_ERR_UNSUPPORTED, @"macOS guests need Apple silicon");
        return NO;
#endif
    }
    if ([kind isEqualToString:@"linux"]) {
        NSString *kernel = field(boot, @"kernel", [NSString class], YES, @"boot", error);
        if (kernel == nil) return NO;
        NSString *initrd = field(boot, @"initrd", [NSString class], NO, @"boot", error);
        NSString *commandLine = field(boot, @"commandLine", [NSString class], NO, @"boot", error);
        if (*error != nil) return NO;
        VZLinuxBootLoader *loader = [[VZLinuxBootLoader alloc] initWithKernelURL:file_url(kernel)];
        if (initrd != nil) loader.initialRamdiskURL = file_url(initrd);
        loader.commandLine = commandLine ?: @"";
        config.bootLoader = loader;
        return YES;
    }
    *error = bad([NSString stringWithFormat:@"boot.kind: unknown \"%@\"", kind]);
    return NO;
}

static BOOL add_mac_platform(VZVirtualMachineConfiguration *config, NSDictionary *platform,
                             NSError **error) {
#if defined(__arm64__)
    NSString *model64 = field(platform, @"hardwareModel", [NSString class], YES, @"platform", error);
    NSString *id64 = field(platform, @"machineIdentifier", [NSString class], YES, @"platform", error);
    NSString *aux = field(platform, @"auxiliaryStorage", [NSString class], YES, @"platform", error);
    if (model64 == nil || id64 == nil || aux == nil) return NO;
    NSData *modelData = base64_data(model64);
    VZMacHardwareModel *model =
        modelData ? [[VZMacHardwareModel alloc] initWithDataRepresentation:modelData] : nil;
    if (model == nil) {
        *error = bad(@"platform.hardwareModel: not a VZMacHardwareModel data representation");
        return NO;
    }
    if (!model.supported) {
        *error = shim_error(VZK_ERR_UNSUPPORTED,
                            @"the image's hardware model is not supported on this host (the "
                            @"image needs a newer macOS host or another Mac)");
        return NO;
    }
    NSData *idData = base64_data(id64);
    VZMacMachineIdentifier *identifier =
        idData ? [[VZMacMachineIdentifier alloc] initWithDataRepresentation:idData] : nil;
    if (identifier == nil) {
        *error = bad(@"platform.machineIdentifier: not a VZMacMachineIdentifier data representation");
        return NO;
    }
    VZMacPlatformConfiguration *mac = [[VZMacPlatformConfiguration alloc] init];
    mac.hardwareModel = model;
    mac.machineIdentifier = identifier;
    mac.auxiliaryStorage = [[VZMacAuxiliaryStorage alloc] initWithURL:file_url(aux)];
    config.platform = mac;
    return YES;
#else
    (void)config;
    (void)platform;
    *error = shim_error(VZK_ERR_UNSUPPORTED, @"macOS guests need Apple silicon");
    return NO;
#endif
}

static BOOL add_platform(VZVirtualMachineConfiguration *config, NSDictionary *platform,
                         NSError **error) {
    NSString *kind = field(platform, @"kind", [NSString class], YES, @"platform", error);
    if (kind == nil) return NO;
    if ([kind isEqualToString:@"mac"]) return add_mac_platform(config, platform, error);
    if ([kind isEqualToString:@"generic"]) {
        VZGenericPlatformConfiguration *generic = [[VZGenericPlatformConfiguration alloc] init];
        NSString *id64 =
            field(platform, @"machineIdentifier", [NSString class], NO, @"platform", error);
        if (*error != nil) return NO;
        if (id64 != nil) {
            NSData *idData = base64_data(id64);
            VZGenericMachineIdentifier *identifier =
                idData ? [[VZGenericMachineIdentifier alloc] initWithDataRepresentation:idData] : nil;
            if (identifier == nil) {
                *error = bad(@"platform.machineIdentifier: not a VZGenericMachineIdentifier data "
                             @"representation");
                return NO;
            }
            generic.machineIdentifier = identifier;
        }
        config.platform = generic;
        return YES;
    }
    *error = bad([NSString stringWithFormat:@"platform.kind: unknown \"%@\"", kind]);
    return NO;
}

static VZDiskImageCachingMode caching_mode(NSString *name) {
    if ([name isEqualToString:@"cached"]) return VZDiskImageCachingModeCached;
    if ([name isEqualToString:@"uncached"]) return VZDiskImageCachingModeUncached;
    return VZDiskImageCachingModeAutomatic;
}

static VZDiskImageSynchronizationMode sync_mode(NSString *name) {
    if ([name isEqualToString:@"fsync"]) return VZDiskImageSynchronizationModeFsync;
    if ([name isEqualToString:@"none"]) return VZDiskImageSynchronizationModeNone;
    return VZDiskImageSynchronizationModeFull;
}

static BOOL add_storage(VZVirtualMachineConfiguration *config, NSArray *disks, NSError **error) {
    NSMutableArray<VZStorageDeviceConfiguration *> *devices = [NSMutableArray array];
    for (NSUInteger i = 0; i < disks.count; i++) {
        NSString *where = [NSString stringWithFormat:@"storage[%lu]", (unsigned long)i];
        NSDictionary *disk = object_at(disks, i, where, error);
        if (disk == nil) return NO;
        NSString *path = field(disk, @"path", [NSString class], YES, where, error);
        NSNumber *readOnly = field(disk, @"readOnly", [NSNumber class], NO, where, error);
        NSString *caching = field(disk, @"caching", [NSString class], NO, where, error);
        NSString *sync = field(disk, @"sync", [NSString class], NO, where, error);
        if (path == nil || *error != nil) return NO;
        NSError *attachError = nil;
        VZDiskImageStorageDeviceAttachment *attachment =
            [[VZDiskImageStorageDeviceAttachment alloc] initWithURL:file_url(path)
                                                           readOnly:readOnly.boolValue
                                                        cachingMode:caching_mode(caching)
                                                synchronizationMode:sync_mode(sync)
                                                              error:&attachError];
        if (attachment == nil) {
            *error = attachError ?: bad([where stringByAppendingString:@": unusable disk image"]);
            return NO;
        }
        [devices addObject:[[VZVirtioBlockDeviceConfiguration alloc] initWithAttachment:attachment]];
    }
    config.storageDevices = devices;
    return YES;
}

static VZBridgedNetworkInterface *bridged_interface(NSString *identifier, NSError **error) {
    NSMutableArray<NSString *> *names = [NSMutableArray array];
    for (VZBridgedNetworkInterface *candidate in VZBridgedNetworkInterface.networkInterfaces) {
        if ([candidate.identifier isEqualToString:identifier]) return candidate;
        [names addObject:candidate.identifier];
    }
    NSString *known = names.count > 0
        ? [@"interfaces that can be bridged: " stringByAppendingString:[names componentsJoinedByString:@", "]]
        : @"no interface can be bridged: the executable needs the com.apple.vm.networking "
          @"entitlement (see resources/bridged.entitlements)";
    *error = shim_error(VZK_ERR_UNSUPPORTED,
                        [NSString stringWithFormat:@"bridged interface \"%@\" not found; %@",
                                                   identifier, known]);
    return nil;
}

static BOOL add_network(VZVirtualMachineConfiguration *config, NSArray *nics, NSError **error) {
    NSMutableArray<VZNetworkDeviceConfiguration *> *devices = [NSMutableArray array];
    for (NSUInteger i = 0; i < nics.count; i++) {
        NSString *where = [NSString stringWithFormat:@"network[%lu]", (unsigned long)i];
        NSDictionary *nic = object_at(nics, i, where, error);
        if (nic == nil) return NO;
        NSString *mode = field(nic, @"attachment", [NSString class], YES, where, error);
        NSString *mac = field(nic, @"mac", [NSString class], YES, where, error);
        if (mode == nil || mac == nil) return NO;
        VZVirtioNetworkDeviceConfiguration *device = [[VZVirtioNetworkDeviceConfiguration alloc] init];
        VZMACAddress *address = [[VZMACAddress alloc] initWithString:mac];
        if (address == nil) {
            *error = bad([NSString stringWithFormat:@"%@.mac: \"%@\" is not a MAC address", where, mac]);
            return NO;
        }
        device.MACAddress = address;
        if ([mode isEqualToString:@"nat"]) {
            device.attachment = [[VZNATNetworkDeviceAttachment alloc] init];
        } else if ([mode isEqualToString:@"bridged"]) {
            NSString *name = field(nic, @"interface", [NSString class], YES, where, error);
            if (name == nil) return NO;
            VZBridgedNetworkInterface *interface = bridged_interface(name, error);
            if (interface == nil) return NO;
            device.attachment = [[VZBridgedNetworkDeviceAttachment alloc] initWithInterface:interface];
        } else {
            *error = bad([NSString stringWithFormat:@"%@.attachment: unknown \"%@\"", where, mode]);
            return NO;
        }
        [devices addObject:device];
    }
    config.networkDevices = devices;
    return YES;
}

static BOOL add_graphics(VZVirtualMachineConfiguration *config, NSDictionary *graphics,
                         NSError **error) {
    if (graphics == nil) {
        config.graphicsDevices = [NSArray array];
        return YES;
    }
    NSString *kind = field(graphics, @"kind", [NSString class], YES, @"graphics", error);
    NSNumber *width = field(graphics, @"width", [NSNumber class], YES, @"graphics", error);
    NSNumber *height = field(graphics, @"height", [NSNumber class], YES, @"graphics", error);
    NSNumber *ppi = field(graphics, @"pixelsPerInch", [NSNumber class], YES, @"graphics", error);
    if (kind == nil || width == nil || height == nil || ppi == nil) return NO;
    if (![kind isEqualToString:@"mac"]) {
        *error = bad([NSString stringWithFormat:@"graphics.kind: unknown \"%@\"", kind]);
        return NO;
    }
    VZMacGraphicsDeviceConfiguration *device = [[VZMacGraphicsDeviceConfiguration alloc] init];
    device.displays = @[ [[VZMacGraphicsDisplayConfiguration alloc]
        initWithWidthInPixels:width.integerValue
               heightInPixels:height.integerValue
                pixelsPerInch:ppi.integerValue] ];
    config.graphicsDevices = @[ device ];
    return YES;
}

static BOOL add_input(VZVirtualMachineConfiguration *config, NSDictionary *d, NSError **error) {
    NSString *keyboard = field(d, @"keyboard", [NSString class], NO, @"", error);
    NSArray *pointing = field(d, @"pointing", [NSArray class], NO, @"", error);
    if (*error != nil) return NO;
    if (keyboard == nil || [keyboard isEqualToString:@"none"]) {
        config.keyboards = [NSArray array];
    } else if ([keyboard isEqualToString:@"mac"]) {
        // The Mac keyboard exists from macOS 14; older hosts get the USB keyboard instead.
#if defined(__arm64__)
        if (@available(macOS 14.0, *)) {
            config.keyboards = @[ [[VZMacKeyboardConfiguration alloc] init] ];
        } else {
            config.keyboards = @[ [[VZUSBKeyboardConfiguration alloc] init] ];
        }
#else
        config.keyboards = @[ [[VZUSBKeyboardConfiguration alloc] init] ];
#endif
    } else if ([keyboard isEqualToString:@"usb"]) {
        config.keyboards = @[ [[VZUSBKeyboardConfiguration alloc] init] ];
    } else {
        *error = bad([NSString stringWithFormat:@".keyboard: unknown \"%@\"", keyboard]);
        return NO;
    }
    NSMutableArray<VZPointingDeviceConfiguration *> *pointers = [NSMutableArray array];
    for (id name in pointing ?: [NSArray array]) {
        if ([name isEqual:@"usb-screen-coordinate"]) {
            [pointers addObject:[[VZUSBScreenCoordinatePointingDeviceConfiguration alloc] init]];
#if defined(__arm64__)
        } else if ([name isEqual:@"mac-trackpad"]) {
            [pointers addObject:[[VZMacTrackpadConfiguration alloc] init]];
#endif
        } else {
            *error = bad([NSString stringWithFormat:@".pointing: unknown device %@", name]);
            return NO;
        }
    }
    config.pointingDevices = pointers;
    return YES;
}

static BOOL add_shares(VZVirtualMachineConfiguration *config, NSArray *shares, NSError **error) {
    NSMutableArray<VZDirectorySharingDeviceConfiguration *> *devices = [NSMutableArray array];
    for (NSUInteger i = 0; i < shares.count; i++) {
        NSString *where = [NSString stringWithFormat:@"directoryShares[%lu]", (unsigned long)i];
        NSDictionary *share = object_at(shares, i, where, error);
        if (share == nil) return NO;
        // No tag means the macOS guest automount tag: the guest mounts the share by itself
        // under /Volumes/My Shared Files.
        NSString *tag = field(share, @"tag", [NSString class], NO, where, error);
        NSArray *directories = field(share, @"directories", [NSArray class], YES, where, error);
        if (directories == nil || *error != nil) return NO;
        if (tag == nil) tag = VZVirtioFileSystemDeviceConfiguration.macOSGuestAutomountTag;
        NSError *tagError = nil;
        if (![VZVirtioFileSystemDeviceConfiguration validateTag:tag error:&tagError]) {
            *error = tagError ?: bad([where stringByAppendingString:@".tag: invalid"]);
            return NO;
        }
        NSMutableDictionary<NSString *, VZSharedDirectory *> *byName = [NSMutableDictionary dictionary];
        for (NSUInteger j = 0; j < directories.count; j++) {
            NSString *at = [NSString stringWithFormat:@"%@.directories[%lu]", where, (unsigned long)j];
            NSDictionary *dir = object_at(directories, j, at, error);
            if (dir == nil) return NO;
            NSString *name = field(dir, @"name", [NSString class], YES, at, error);
            NSString *path = field(dir, @"path", [NSString class], YES, at, error);
            NSNumber *readOnly = field(dir, @"readOnly", [NSNumber class], NO, at, error);
            if (name == nil || path == nil || *error != nil) return NO;
            NSError *nameError = nil;
            if (![VZMultipleDirectoryShare validateName:name error:&nameError]) {
                *error = nameError ?: bad([at stringByAppendingString:@".name: invalid"]);
                return NO;
            }
            byName[name] = [[VZSharedDirectory alloc] initWithURL:file_url(path)
                                                         readOnly:readOnly.boolValue];
        }
        VZVirtioFileSystemDeviceConfiguration *device =
            [[VZVirtioFileSystemDeviceConfiguration alloc] initWithTag:tag];
        device.share = [[VZMultipleDirectoryShare alloc] initWithDirectories:byName];
        [devices addObject:device];
    }
    config.directorySharingDevices = devices;
    return YES;
}

static BOOL add_serial(VZVirtualMachineConfiguration *config, NSString *logPath, NSError **error) {
    if (logPath == nil) {
        config.serialPorts = [NSArray array];
        return YES;
    }
    NSError *fileError = nil;
    VZFileSerialPortAttachment *attachment =
        [[VZFileSerialPortAttachment alloc] initWithURL:file_url(logPath) append:YES error:&fileError];
    if (attachment == nil) {
        *error = fileError ?: bad(@"serialLog: cannot open the console log");
        return NO;
    }
    VZVirtioConsoleDeviceSerialPortConfiguration *port =
        [[VZVirtioConsoleDeviceSerialPortConfiguration alloc] init];
    port.attachment = attachment;
    config.serialPorts = @[ port ];
    return YES;
}

static VZVirtualMachineConfiguration *build_configuration(const char *json, NSError **error) {
    NSError *e = nil;
    NSDictionary *d = parse_description(json, &e);
    if (d == nil) {
        *error = e;
        return nil;
    }
    NSNumber *version = field(d, @"version", [NSNumber class], YES, @"", &e);
    NSNumber *cpus = field(d, @"cpus", [NSNumber class], YES, @"", &e);
    NSNumber *memory = field(d, @"memoryBytes", [NSNumber class], YES, @"", &e);
    NSDictionary *boot = field(d, @"boot", [NSDictionary class], YES, @"", &e);
    NSDictionary *platform = field(d, @"platform", [NSDictionary class], YES, @"", &e);
    NSArray *storage = field(d, @"storage", [NSArray class], YES, @"", &e);
    NSArray *network = field(d, @"network", [NSArray class], YES, @"", &e);
    NSDictionary *graphics = field(d, @"graphics", [NSDictionary class], NO, @"", &e);
    NSArray *shares = field(d, @"directoryShares", [NSArray class], NO, @"", &e);
    NSString *serialLog = field(d, @"serialLog", [NSString class], NO, @"", &e);
    NSNumber *entropy = field(d, @"entropy", [NSNumber class], NO, @"", &e);
    NSNumber *balloon = field(d, @"memoryBalloon", [NSNumber class], NO, @"", &e);
    NSNumber *socket = field(d, @"socket", [NSNumber class], NO, @"", &e);
    if (e == nil && version.intValue != VZK_ABI_VERSION) {
        e = bad([NSString stringWithFormat:@".version: %@, this shim reads %d", version,
                                           VZK_ABI_VERSION]);
    }
    if (e != nil) {
        *error = e;
        return nil;
    }

    VZVirtualMachineConfiguration *config = [[VZVirtualMachineConfiguration alloc] init];
    config.CPUCount = cpus.unsignedIntegerValue;
    config.memorySize = memory.unsignedLongLongValue;
    BOOL ok = add_boot_loader(config, boot, &e) && add_platform(config, platform, &e) &&
              add_storage(config, storage, &e) && add_network(config, network, &e) &&
              add_graphics(config, graphics, &e) && add_input(config, d, &e) &&
              add_shares(config, shares ?: [NSArray array], &e) && add_serial(config, serialLog, &e);
    if (!ok) {
        *error = e;
        return nil;
    }
    config.entropyDevices = entropy.boolValue ? @[ [[VZVirtioEntropyDeviceConfiguration alloc] init] ] : [NSArray array];
    config.memoryBalloonDevices = balloon.boolValue
        ? @[ [[VZVirtioTraditionalMemoryBalloonDeviceConfiguration alloc] init] ]
        : [NSArray array];
    // Exactly one socket device: the framework allows no more, and a guest agent needs one.
    config.socketDevices = socket.boolValue ? @[ [[VZVirtioSocketDeviceConfiguration alloc] init] ] : [NSArray array];

    if (![config validateWithError:&e]) {
        *error = e ?: shim_error(VZK_ERR_BAD_DESCRIPTION, @"the configuration is not valid");
        return nil;
    }
    return config;
}

// ---------------------------------------------------------------------------------------------
// One VM: the VZVirtualMachine, its private serial queue, and the queue of events for JS.

@interface VZKMachine : NSObject <VZVirtualMachineDelegate>
@property(nonatomic, readonly, strong) dispatch_queue_t queue;
@property(nonatomic, readonly, strong) VZVirtualMachine *vm;
- (instancetype)initWithConfiguration:(VZVirtualMachineConfiguration *)config;
- (int32_t)lastState;
- (NSString *)nextEventWaiting:(int32_t)timeoutMs;
- (char *)run:(NSString *)name
      timeout:(int64_t)seconds
         body:(void (^)(VZVirtualMachine *vm, void (^done)(NSError *error)))body;
- (void)close;
@end

@implementation VZKMachine {
    NSMutableArray<NSString *> *_events;
    dispatch_semaphore_t _pending;  // signalled once per queued event (and once on close)
    atomic_int _state;
    atomic_bool _closed;
}

- (instancetype)initWithConfiguration:(VZVirtualMachineConfiguration *)config {
    self = [super init];
    if (self == nil) return nil;
    _events = [NSMutableArray array];
    _pending = dispatch_semaphore_create(0);
    atomic_init(&_state, (int)VZVirtualMachineStateStopped);
    atomic_init(&_closed, false);
    _queue = dispatch_queue_create("com.example.macos-vz-kubelet.vm", DISPATCH_QUEUE_SERIAL);
    // The VM is made and observed on its own queue; every later use happens there too.
    __block VZVirtualMachine *vm = nil;
    dispatch_sync(_queue, ^{
        vm = [[VZVirtualMachine alloc] initWithConfiguration:config queue:self->_queue];
        vm.delegate = self;
        [vm addObserver:self
             forKeyPath:@"state"
                options:NSKeyValueObservingOptionNew
                context:kStateContext];
        atomic_store(&self->_state, (int)vm.state);
    });
    _vm = vm;
    return self;
}

- (int32_t)lastState {
    return (int32_t)atomic_load(&_state);
}

- (void)push:(NSDictionary *)event {
    if (atomic_load(&_closed)) return;
    NSString *text = json_text(event);
    if (text == nil) return;
    @synchronized(_events) {
        [_events addObject:text];
    }
    dispatch_semaphore_signal(_pending);
}

- (NSString *)nextEventWaiting:(int32_t)timeoutMs {
    if (atomic_load(&_closed)) return nil;
    dispatch_time_t until = timeoutMs <= 0
        ? DISPATCH_TIME_NOW
        : dispatch_time(DISPATCH_TIME_NOW, (int64_t)timeoutMs * (int64_t)NSEC_PER_MSEC);
    if (dispatch_semaphore_wait(_pending, until) != 0) return nil;
    @synchronized(_events) {
        if (_events.count == 0) return nil;
        NSString *first = _events[0];
        [_events removeObjectAtIndex:0];
        return first;
    }
}

// Runs `body` on the VM's queue and waits (on the calling worker thread, never the JS thread)
// until it calls `done`, or `seconds` pass.
- (char *)run:(NSString *)name
      timeout:(int64_t)seconds
         body:(void (^)(VZVirtualMachine *vm, void (^done)(NSError *error)))body {
    dispatch_semaphore_t finished = dispatch_semaphore_create(0);
    __block NSError *result = nil;
    VZVirtualMachine *vm = self.vm;
    dispatch_async(self.queue, ^{
        @try {
            body(vm, ^(NSError *error) {
                result = error;
                dispatch_semaphore_signal(finished);
            });
        } @catch (NSException *exception) {
            result = exception_error(exception);
            dispatch_semaphore_signal(finished);
        }
    });
    dispatch_time_t until = dispatch_time(DISPATCH_TIME_NOW, seconds * (int64_t)NSEC_PER_SEC);
    if (dispatch_semaphore_wait(finished, until) != 0) {
        return error_json(shim_error(
            VZK_ERR_TIMEOUT,
            [NSString stringWithFormat:@"%@: Virtualization.framework did not answer within %lld s",
                                       name, (long long)seconds]));
    }
    return result != nil ? error_json(result) : NULL;
}

- (void)observeValueForKeyPath:(NSString *)keyPath
                      ofObject:(id)object
                        change:(NSDictionary *)change
                       context:(void *)context {
    if (context != kStateContext) {
        [super observeValueForKeyPath:keyPath ofObject:object change:change context:context];
        return;
    }
    // Called on the VM's queue, where the change happened.
    VZVirtualMachineState state = self.vm.state;
    atomic_store(&_state, (int)state);
    [self push:@{@"type" : @"state", @"state" : state_name(state)}];
}

- (void)guestDidStopVirtualMachine:(VZVirtualMachine *)virtualMachine {
    (void)virtualMachine;
    [self push:@{@"type" : @"guest-stopped"}];
}

- (void)virtualMachine:(VZVirtualMachine *)virtualMachine didStopWithError:(NSError *)error {
    (void)virtualMachine;
    [self push:@{@"type" : @"stopped-with-error", @"error" : error_dict(error)}];
}

- (void)virtualMachine:(VZVirtualMachine *)virtualMachine
                      networkDevice:(VZNetworkDevice *)networkDevice
    attachmentWasDisconnectedWithError:(NSError *)error {
    (void)virtualMachine;
    (void)networkDevice;
    [self push:@{@"type" : @"network-disconnected", @"error" : error_dict(error)}];
}

// Stops event delivery and detaches from the VM on its queue, without waiting for it: the
// block keeps both objects alive until it has run.
- (void)close {
    atomic_store(&_closed, true);
    dispatch_semaphore_signal(_pending);
    VZVirtualMachine *vm = self.vm;
    if (vm == nil) return;
    dispatch_async(self.queue, ^{
        @try {
            [vm removeObserver:self forKeyPath:@"state"];
        } @catch (NSException *exception) {
            (void)exception;  // was not observing: nothing to undo
        }
        vm.delegate = nil;
    });
}

@end

static VZKMachine *machine_of(vzk_vm_t handle) {
    return (__bridge VZKMachine *)(void *)handle;
}

static char *null_handle_error(void) {
    return error_json(shim_error(VZK_ERR_INVALID_STATE, @"no VM (NULL handle)"));
}

static NSError *cannot(NSString *what, VZVirtualMachine *vm) {
    return shim_error(VZK_ERR_INVALID_STATE,
                      [NSString stringWithFormat:@"cannot %@ the VM in state %@", what,
                                                 state_name(vm.state)]);
}

// ---------------------------------------------------------------------------------------------
// Exports

int32_t vzk_abi_version(void) {
    return VZK_ABI_VERSION;
}

char *vzk_host_info(void) {
    @autoreleasepool {
        @try {
            NSOperatingSystemVersion v = NSProcessInfo.processInfo.operatingSystemVersion;
            NSMutableArray *bridged = [NSMutableArray array];
            for (VZBridgedNetworkInterface *nic in VZBridgedNetworkInterface.networkInterfaces) {
                [bridged addObject:@{
                    @"identifier" : nic.identifier,
                    @"name" : nic.localizedDisplayName ?: nic.identifier
                }];
            }
            return json_cstring(@{
                @"abi" : @(VZK_ABI_VERSION),
                @"supported" : [NSNumber numberWithBool:VZVirtualMachine.isSupported],
                @"macOSVersion" : [NSString stringWithFormat:@"%ld.%ld.%ld", (long)v.majorVersion,
                                                             (long)v.minorVersion, (long)v.patchVersion],
                @"minCpus" : @(VZVirtualMachineConfiguration.minimumAllowedCPUCount),
                @"maxCpus" : @(VZVirtualMachineConfiguration.maximumAllowedCPUCount),
                @"minMemoryBytes" : @(VZVirtualMachineConfiguration.minimumAllowedMemorySize),
                @"maxMemoryBytes" : @(VZVirtualMachineConfiguration.maximumAllowedMemorySize),
                @"bridgedInterfaces" : bridged,
            });
        } @catch (NSException *exception) {
            return error_json(exception_error(exception));
        }
    }
}

int32_t vzk_hardware_model_supported(const char *hardware_model_base64) {
    @autoreleasepool {
        @try {
#if defined(__arm64__)
            NSString *text = string_from_c(hardware_model_base64);
            NSData *data = text ? base64_data(text) : nil;
            VZMacHardwareModel *model =
                data ? [[VZMacHardwareModel alloc] initWithDataRepresentation:data] : nil;
            if (model == nil) return -1;
            return model.supported ? 1 : 0;
#else
            (void)hardware_model_base64;
            return 0;
#endif
        } @catch (NSException *exception) {
            (void)exception;
            return -1;
        }
    }
}

char *vzk_new_machine_identifier(void) {
    @autoreleasepool {
        @try {
#if defined(__arm64__)
            VZMacMachineIdentifier *identifier = [[VZMacMachineIdentifier alloc] init];
            return copy_string([identifier.dataRepresentation base64EncodedStringWithOptions:0]);
#else
            return NULL;
#endif
        } @catch (NSException *exception) {
            (void)exception;
            return NULL;
        }
    }
}

char *vzk_config_validate(const char *description_json) {
    @autoreleasepool {
        @try {
            NSError *error = nil;
            VZVirtualMachineConfiguration *config = build_configuration(description_json, &error);
            return config != nil ? NULL : error_json(error);
        } @catch (NSException *exception) {
            return error_json(exception_error(exception));
        }
    }
}

vzk_vm_t vzk_vm_create(const char *description_json, char **error_out) {
    @autoreleasepool {
        NSError *error = nil;
        @try {
            VZVirtualMachineConfiguration *config = build_configuration(description_json, &error);
            if (config != nil) {
                VZKMachine *machine = [[VZKMachine alloc] initWithConfiguration:config];
                if (machine.vm != nil) return (vzk_vm_t)(__bridge_retained void *)machine;
                error = shim_error(VZK_ERR_UNSUPPORTED, @"the framework made no VM");
            }
        } @catch (NSException *exception) {
            error = exception_error(exception);
        }
        if (error_out != NULL) *error_out = error_json(error);
        return NULL;
    }
}

typedef BOOL (^VZKAllowed)(VZVirtualMachine *vm);
typedef void (^VZKAction)(VZVirtualMachine *vm, void (^done)(NSError *error));

// One lifecycle export: on the VM's queue, refuse when the VM cannot do `what` in its state,
// else act and wait for the framework's answer. Runs inside @autoreleasepool and @try/@catch
// for its export.
static char *lifecycle(vzk_vm_t handle, NSString *what, int64_t seconds, VZKAllowed allowed,
                       VZKAction act) {
    @autoreleasepool {
        @try {
            VZKMachine *machine = machine_of(handle);
            if (machine == nil) return null_handle_error();
            return [machine run:what
                        timeout:seconds
                           body:^(VZVirtualMachine *vm, void (^done)(NSError *)) {
                               if (!allowed(vm)) {
                                   done(cannot(what, vm));
                                   return;
                               }
                               act(vm, done);
                           }];
        } @catch (NSException *exception) {
            return error_json(exception_error(exception));
        }
    }
}

char *vzk_vm_start(vzk_vm_t handle) {
    return lifecycle(
        handle, @"start", kStartTimeoutSeconds, ^BOOL(VZVirtualMachine *vm) { return vm.canStart; },
        ^(VZVirtualMachine *vm, void (^done)(NSError *)) {
            [vm startWithCompletionHandler:^(NSError *_Nullable error) { done(error); }];
        });
}

char *vzk_vm_request_stop(vzk_vm_t handle) {
    return lifecycle(
        handle, @"request stop", kPauseTimeoutSeconds,
        ^BOOL(VZVirtualMachine *vm) { return vm.canRequestStop; },
        ^(VZVirtualMachine *vm, void (^done)(NSError *)) {
            NSError *error = nil;
            BOOL ok = [vm requestStopWithError:&error];
            done(ok ? nil : (error ?: cannot(@"request stop", vm)));
        });
}

char *vzk_vm_stop(vzk_vm_t handle) {
    return lifecycle(
        handle, @"stop", kStopTimeoutSeconds, ^BOOL(VZVirtualMachine *vm) { return vm.canStop; },
        ^(VZVirtualMachine *vm, void (^done)(NSError *)) {
            [vm stopWithCompletionHandler:^(NSError *_Nullable error) { done(error); }];
        });
}

char *vzk_vm_pause(vzk_vm_t handle) {
    return lifecycle(
        handle, @"pause", kPauseTimeoutSeconds, ^BOOL(VZVirtualMachine *vm) { return vm.canPause; },
        ^(VZVirtualMachine *vm, void (^done)(NSError *)) {
            [vm pauseWithCompletionHandler:^(NSError *_Nullable error) { done(error); }];
        });
}

char *vzk_vm_resume(vzk_vm_t handle) {
    return lifecycle(
        handle, @"resume", kPauseTimeoutSeconds, ^BOOL(VZVirtualMachine *vm) { return vm.canResume; },
        ^(VZVirtualMachine *vm, void (^done)(NSError *)) {
            [vm resumeWithCompletionHandler:^(NSError *_Nullable error) { done(error); }];
        });
}

int32_t vzk_vm_state(vzk_vm_t handle) {
    @autoreleasepool {
        @try {
            VZKMachine *machine = machine_of(handle);
            return machine == nil ? -1 : [machine lastState];
        } @catch (NSException *exception) {
            (void)exception;
            return -1;
        }
    }
}

char *vzk_vm_next_event(vzk_vm_t handle, int32_t timeout_ms) {
    @autoreleasepool {
        @try {
            VZKMachine *machine = machine_of(handle);
            if (machine == nil) return NULL;
            NSString *event = [machine nextEventWaiting:timeout_ms];
            return event != nil ? copy_string(event) : NULL;
        } @catch (NSException *exception) {
            (void)exception;
            return NULL;
        }
    }
}

void vzk_vm_release(vzk_vm_t handle) {
    @autoreleasepool {
        @try {
            if (handle == NULL) return;
            VZKMachine *machine = (__bridge_transfer VZKMachine *)(void *)handle;
            [machine close];
        } @catch (NSException *exception) {
            (void)exception;
        }
    }
}

void vzk_free_string(char *s) {
    free(s);
}

int32_t vzk_clonefile(const char *src, const char *dst) {
    @autoreleasepool {
        if (src == NULL || dst == NULL) return -EINVAL;
        if (clonefile(src, dst, 0) == 0) return 0;
        return -errno;
    }
}
