module macos-vz-kubelet/bench/go_puller

go 1.24

require (
	github.com/klauspost/pgzip v1.2.6
	github.com/opencontainers/go-digest v1.0.0
	github.com/opencontainers/image-spec v1.1.1
	oras.land/oras-go/v2 v2.6.0
)

require (
	github.com/klauspost/compress v1.18.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
)
