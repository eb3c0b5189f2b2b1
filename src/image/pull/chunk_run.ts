// One chunk of a chunked file, start to finish: stream its blob (resuming on broken
// connections), gunzip and verify it, write it sparsely at its offset in the partial file,
// and sync: on a chunk lane's worker when given one (chunk_lane.ts), else on this thread.

import { blobStream } from "../registry/blob_stream.ts";
import type { FilePart } from "../format/layout.ts";
import type { ImageReference } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { SparseWriterStats } from "../store/sparse.ts";
import { unpackPart } from "../store/unpack.ts";
import type { ChunkLane } from "./chunk_lane.ts";

export interface ChunkSpec {
  ref: ImageReference;
  part: FilePart;
  dataPath: string;
  /** Write zeros too (the region may hold bytes of an interrupted attempt). */
  dense: boolean;
  /** Error message prefix. */
  what: string;
}

export async function runChunk(
  client: RegistryClient,
  spec: ChunkSpec,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  onStall: (message: string) => void = () => {},
  lane?: ChunkLane,
): Promise<SparseWriterStats> {
  const stream = () =>
    blobStream(client, spec.ref, spec.part.layer, {
      signal,
      onBytes,
      onStall: (s) => onStall(s.message),
    });
  if (lane) {
    return await lane.unpack(stream(), {
      path: spec.dataPath,
      part: spec.part,
      dense: spec.dense,
      what: spec.what,
    });
  }
  const file = await Deno.open(spec.dataPath, { read: true, write: true });
  try {
    const stats = await unpackPart(stream(), file, spec.part, {
      what: spec.what,
      dense: spec.dense,
    });
    await file.syncData();
    return stats;
  } finally {
    file.close();
  }
}
