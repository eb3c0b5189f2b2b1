// Every media type, artifact type and annotation key the image subsystem reads or writes.
// docs/image-format.md specifies them; this file is the code's single copy of the strings.

// OCI and Docker (read; the OCI ones also written).
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

/** The OCI empty descriptor's content: the two bytes `{}`. */
export const OCI_EMPTY_DATA = "{}";
export const OCI_EMPTY_DIGEST =
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

export const ANNOTATION_TITLE = "org.opencontainers.image.title";
export const ANNOTATION_CREATED = "org.opencontainers.image.created";

// The existing format (the Go system's): read and written unchanged.
export const AGODA_ARTIFACT = "application/vnd.agoda.macosvz.artifact";
export const AGODA_DISK = "application/vnd.agoda.macosvz.disk.image.v1";
export const AGODA_AUX = "application/vnd.agoda.macosvz.aux.image.v1";
export const AGODA_CONFIG = "application/vnd.agoda.macosvz.config.v1+json";
export const AGODA_UNCOMPRESSED_DIGEST = "com.agoda.macosvz.content.uncompressed-digest";
export const AGODA_UNCOMPRESSED_SIZE = "com.agoda.macosvz.content.uncompressed-size";

// Our own extensions: chunked files and Linux guests.
const OURS = "application/vnd.macosvzkubelet";
/** artifactType of a manifest in our own form (macOS or Linux guest). */
export const VZK_ARTIFACT = `${OURS}.vm.v1`;
/** The manifest's config blob in our own form: describes the guest and its files. */
export const VZK_CONFIG = `${OURS}.vm.config.v1+json`;
/** A whole file, stored as is. */
export const VZK_FILE = `${OURS}.file.v1`;
/** A whole file, one gzip stream. */
export const VZK_FILE_GZIP = `${OURS}.file.v1+gzip`;
/** One fixed-size piece of a file, gzip-compressed on its own. */
export const VZK_CHUNK_GZIP = `${OURS}.file.chunk.v1+gzip`;

const OUR_ANNOTATIONS = "dev.macosvzkubelet";
/** Uncompressed sha256 digest of a layer's content (whole file or chunk). */
export const VZK_UNCOMPRESSED_DIGEST = `${OUR_ANNOTATIONS}.uncompressed-digest`;
/** Uncompressed size in bytes (decimal string) of a layer's content. */
export const VZK_UNCOMPRESSED_SIZE = `${OUR_ANNOTATIONS}.uncompressed-size`;
/** Byte offset (decimal string) of a chunk inside its file. */
export const VZK_CHUNK_OFFSET = `${OUR_ANNOTATIONS}.chunk.offset`;
/** Size in bytes (decimal string) of the whole file a chunk belongs to. */
export const VZK_FILE_SIZE = `${OUR_ANNOTATIONS}.file.size`;

/** Platform the Go system puts on its (empty) config descriptor. */
export const DARWIN_ARM64 = { os: "darwin", architecture: "arm64" } as const;
