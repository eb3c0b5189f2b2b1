// One chunk of a chunked file, start to finish: stream its blob (resuming on broken
// connections), gunzip and verify it, write it sparsely at its offset in the partial file,
// and sync, all on the chunk lane's worker (chunk_lane.ts); this thread reads the blob.

import { blobStream } from "../registry/blob_stream.ts";
import type { FilePart } from "../format/layout.ts";
import type { ImageReference } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { SparseWriterStats } from "../store/sparse.ts";
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

export function runChunk(
  client: RegistryClient,
  spec: ChunkSpec,
  signal: AbortSignal,
  lane: ChunkLane,
  onBytes: (n: number) => void,
  onStall: (message: string) => void = () => {},
): Promise<SparseWriterStats> {
  const stream = blobStream(client, spec.ref, spec.part.layer, {
    signal,
    onBytes,
    onStall: (s) => onStall(s.message),
  });
  return lane.unpack(stream, {
    path: spec.dataPath,
    part: spec.part,
    dense: spec.dense,
    what: spec.what,
  });
}
