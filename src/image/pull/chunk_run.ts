// One chunk of a chunked file, start to finish: stream its blob (resuming on broken
// connections), gunzip and verify it, write it sparsely at its offset in the partial file,
// and sync, hashing on its lane of a hash worker when given one.

import { blobStream } from "../registry/blob_stream.ts";
import type { FilePart } from "../format/layout.ts";
import type { ImageReference } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { SparseWriterStats } from "../store/sparse.ts";
import { type HashLane, unpackPart } from "../store/unpack.ts";

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
  hashLane?: HashLane,
): Promise<SparseWriterStats> {
  const file = await Deno.open(spec.dataPath, { read: true, write: true });
  try {
    const stream = blobStream(client, spec.ref, spec.part.layer, {
      signal,
      onBytes,
      onStall: (s) => onStall(s.message),
    });
    const stats = await unpackPart(stream, file, spec.part, {
      what: spec.what,
      dense: spec.dense,
      hashLane,
    });
    await file.syncData();
    return stats;
  } finally {
    file.close();
  }
}
