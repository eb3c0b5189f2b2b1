// An upstream-style VM image puller, the bench's baseline (bench/image_pull.ts builds and
// runs it): oras-go v2 resolves the manifest and copies every layer into an OCI layout
// store (digest-verified, as the Go system's oras pull does), then each gzip layer is
// decompressed with klauspost/pgzip, hashed (sha256 of the uncompressed stream, checked
// against the layer's uncompressed-digest annotation) and written to its file in 64 KiB
// pieces, all-zero pieces skipped (sparse). With -stream it decompresses straight from
// the HTTP body instead of the stored blob (the compressed digest verified on the way).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote"
)

const (
	annoTitle     = "org.opencontainers.image.title"
	annoUDigest   = "com.agoda.macosvz.content.uncompressed-digest"
	annoUSize     = "com.agoda.macosvz.content.uncompressed-size"
	vzkUDigest    = "dev.macosvzkubelet.uncompressed-digest"
	vzkUSize      = "dev.macosvzkubelet.uncompressed-size"
	piece         = 64 << 10
	manifestLimit = 4 << 20
)

func main() {
	ref := flag.String("ref", "", "registry/repository:tag")
	out := flag.String("out", "", "output directory")
	plain := flag.Bool("plain-http", true, "talk plain HTTP to the registry")
	stream := flag.Bool("stream", false, "decompress from the HTTP body, no stored blob")
	flag.Parse()
	if *ref == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: go_puller -ref HOST/REPO:TAG -out DIR [-stream]")
		os.Exit(2)
	}
	if err := run(context.Background(), *ref, *out, *plain, *stream); err != nil {
		fmt.Fprintln(os.Stderr, "go_puller:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ref, out string, plain, stream bool) error {
	start := time.Now()
	repo, err := remote.NewRepository(ref)
	if err != nil {
		return err
	}
	repo.PlainHTTP = plain
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var manifestDesc ocispec.Descriptor
	var src content.ReadOnlyStorage = repo
	if stream {
		manifestDesc, err = repo.Resolve(ctx, repo.Reference.Reference)
	} else {
		store, err2 := oci.New(filepath.Join(out, "layout"))
		if err2 != nil {
			return err2
		}
		manifestDesc, err = oras.Copy(ctx, repo, repo.Reference.Reference, store, "pulled", oras.DefaultCopyOptions)
		src = store
	}
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	raw, err := content.FetchAll(ctx, src, manifestDesc)
	if err != nil {
		return err
	}
	if len(raw) > manifestLimit {
		return fmt.Errorf("manifest too large")
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return err
	}
	total := int64(0)
	for _, layer := range manifest.Layers {
		n, err := unpack(ctx, src, layer, out)
		if err != nil {
			return fmt.Errorf("layer %s: %w", layer.Digest, err)
		}
		total += n
	}
	fmt.Printf("%d bytes in %.2f s\n", total, time.Since(start).Seconds())
	return nil
}

// unpack writes one layer to out/<title>: gzip layers decompressed and checked against the
// uncompressed digest annotation, others copied as they are; returns bytes written.
func unpack(ctx context.Context, src content.ReadOnlyStorage, layer ocispec.Descriptor, out string) (int64, error) {
	title := layer.Annotations[annoTitle]
	if title == "" || filepath.Base(title) != title {
		return 0, fmt.Errorf("unusable title %q", title)
	}
	want, wantSize := layer.Annotations[annoUDigest], layer.Annotations[annoUSize]
	if want == "" {
		want, wantSize = layer.Annotations[vzkUDigest], layer.Annotations[vzkUSize]
	}
	body, err := src.Fetch(ctx, layer)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	verified := content.NewVerifyReader(body, layer)
	var r io.Reader = verified
	if want != "" {
		zr, err := pgzip.NewReader(verified)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	}
	f, err := os.OpenFile(filepath.Join(out, title), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := sparseCopy(f, io.TeeReader(r, h))
	if err != nil {
		return n, err
	}
	if err := f.Truncate(n); err != nil {
		return n, err
	}
	if want != "" {
		// Drain the compressed stream so the verify reader sees its end.
		if _, err := io.Copy(io.Discard, verified); err != nil {
			return n, err
		}
	}
	if err := verified.Verify(); err != nil {
		return n, err
	}
	if want != "" {
		got := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
		if got.String() != want {
			return n, fmt.Errorf("uncompressed digest %s, want %s", got, want)
		}
		if size, _ := strconv.ParseInt(wantSize, 10, 64); size != n {
			return n, fmt.Errorf("uncompressed size %d, want %s", n, wantSize)
		}
	}
	return n, f.Sync()
}

// sparseCopy writes r to f in 64 KiB pieces, seeking over pieces that are all zeros.
func sparseCopy(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, piece)
	zero := make([]byte, piece)
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if bytes.Equal(buf[:n], zero[:n]) {
				if _, err := f.Seek(int64(n), io.SeekCurrent); err != nil {
					return off, err
				}
			} else if _, err := f.Write(buf[:n]); err != nil {
				return off, err
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}
