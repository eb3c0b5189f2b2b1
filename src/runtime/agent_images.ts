// The agent's image subsystem: one ImageService per agent, opened on first use (a pod's
// image, or the first garbage collection run) so an agent without VM pods does not load the
// image modules at start-up. The VM runtime's ImageSource and background garbage collection
// share it, with the registry options (insecure registries, --registry-ca) and the copy
// policy (--allow-image-copy) from the configuration.

import type { Config } from "../config/types.ts";
import type { GcSchedule } from "../image/store/gc.ts";
import type { ImageService } from "../image/service.ts";
import type { Logger } from "../telemetry/log.ts";
import type { ImageSource } from "./images.ts";
import type { PodCredentials } from "./image_source.ts";

/** When background GC runs: first after `firstRunAfterMs`, then every `intervalMs`. */
export interface ImageGcTiming {
  firstRunAfterMs: number;
  intervalMs: number;
}

/** A minute after start-up (the image modules load then), then every 10 minutes. */
export const DEFAULT_IMAGE_GC_TIMING: ImageGcTiming = {
  firstRunAfterMs: 60_000,
  intervalMs: 10 * 60_000,
};

export interface AgentImages {
  /** What the VM runtime pulls and holds pods' images through (a lease per pod). */
  source: ImageSource;
  /** The shared service, opened on the first call. */
  service(): Promise<ImageService>;
  /** Starts background GC with the configured thresholds; returns stop(). */
  startGc(timing?: ImageGcTiming): () => void;
}

/** The GC thresholds of --image-gc-unused-for (0: never on age) and --image-gc-min-free. */
export function gcSchedule(config: Config, intervalMs: number): GcSchedule {
  const unusedFor = config.imageGc.unusedForSeconds;
  return {
    intervalMs,
    unusedForMs: unusedFor > 0 ? unusedFor * 1000 : undefined,
    minFreeRatio: config.imageGc.minFreePercent / 100,
  };
}

export function agentImages(
  config: Config,
  log: Logger,
  credentialsFor?: PodCredentials,
): AgentImages {
  let opened: Promise<ImageService> | undefined;
  const service = (): Promise<ImageService> => {
    opened ??= import("../image/service.ts")
      .then((m) =>
        m.ImageService.open({
          cacheDir: config.cacheDir,
          log,
          insecureRegistries: config.insecureRegistries,
          caFile: config.registryCaPath,
          allowCopy: config.allowImageCopy,
        })
      )
      .catch((err) => {
        opened = undefined; // the next caller tries again
        throw err;
      });
    return opened;
  };

  const source: ImageSource = {
    async ensure(ref, opts) {
      const [m, images] = await Promise.all([import("./image_source.ts"), service()]);
      return await m.createStoreImageSource(images, credentialsFor).ensure(ref, opts);
    },
  };

  function startGc(timing = DEFAULT_IMAGE_GC_TIMING): () => void {
    let stopGc: (() => void) | undefined;
    let stopped = false;
    const timer = setTimeout(async () => {
      try {
        const images = await service();
        if (stopped) return;
        stopGc = images.startGc(gcSchedule(config, timing.intervalMs));
      } catch (err) {
        log.error("image garbage collection cannot start", { error: err });
      }
    }, timing.firstRunAfterMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
      stopGc?.();
    };
  }

  return { source, service, startGc };
}
