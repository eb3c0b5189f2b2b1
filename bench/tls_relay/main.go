// The floor under kube-apiserver's CPU for a proxied stream: a bare TLS-to-TLS byte relay in
// Go, copying the way kube-apiserver's upgrade-aware proxy does once a stream is upgraded
// (crypto/tls on both sides, io.Copy each way, Go's default TLS settings). Its CPU per GiB is
// what any API server must spend to pass bytes it decrypts from one connection and encrypts
// onto another; kubelet_api.ts measures it in the same rounds as the transfers.
//
//	tls_relay relay LISTEN UPSTREAM  serves TLS on LISTEN; each connection is relayed to a new
//	                                 TLS connection to UPSTREAM. Prints "ready".
//	tls_relay ends LISTEN RELAY MIB  serves MIB MiB on LISTEN (TLS, 32 KiB writes), reads them
//	                                 back through RELAY, prints the bytes read.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strconv"
	"time"
)

// selfSigned is a throwaway identity: the relay measures copying, not trust.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tls-relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "tls_relay:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: tls_relay relay LISTEN UPSTREAM | ends LISTEN RELAY MIB")
		os.Exit(2)
	}
	server := &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
	client := &tls.Config{InsecureSkipVerify: true}
	ln, err := tls.Listen("tcp", os.Args[2], server)
	check(err)
	switch os.Args[1] {
	case "relay":
		fmt.Println("ready")
		for {
			down, err := ln.Accept()
			check(err)
			go relay(down, os.Args[3], client)
		}
	case "ends":
		mib, err := strconv.Atoi(os.Args[4])
		check(err)
		go serve(ln, mib)
		conn, err := tls.Dial("tcp", os.Args[3], client)
		check(err)
		n, err := io.Copy(io.Discard, conn)
		check(err)
		fmt.Println(n)
	default:
		check(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func relay(down net.Conn, upstream string, client *tls.Config) {
	defer down.Close()
	up, err := tls.Dial("tcp", upstream, client)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tls_relay: upstream:", err)
		return
	}
	defer up.Close()
	go io.Copy(up, down)
	io.Copy(down, up)
}

func serve(ln net.Listener, mib int) {
	conn, err := ln.Accept()
	check(err)
	buf := make([]byte, 32<<10)
	for i := 0; i < mib*32; i++ {
		_, err := conn.Write(buf)
		check(err)
	}
	check(conn.Close())
}
