module macos-vz-kubelet/bench/tls_relay

go 1.24
