#!/usr/bin/env bash
# Builds the small Linux test guest from Debian packages, once, into a cache directory:
#   vmlinuz      Debian's cloud kernel (virtio drivers as modules, loaded by /init)
#   initrd.img   busybox (static) + dropbear and curl (with the libraries they link) + /init,
#                and the fuse/virtiofs modules for pod volumes
#   disk.img     a small sparse raw disk the guest sees as /dev/vda (exercises clones)
#   cmdline      the kernel command line
#   id_ed25519   the SSH key accepted for users "root" and "vz" ("vz" also by password "vz");
#                only root may power the guest off, as on a real Linux guest
# Idempotent; concurrent runs are serialised with flock; the result appears by rename.
#
# usage: build.sh CACHE_ROOT        prints the directory holding the guest
set -euo pipefail

root="${1:?cache root}"
version=9   # bump when the guest's contents change
final="$root/guest-v$version"
[[ -f "$final/initrd.img" ]] && { echo "$final"; exit 0; }
mkdir -p "$root"
exec 9>"$root/guest.lock"
command -v flock >/dev/null && flock 9
[[ -f "$final/initrd.img" ]] && { echo "$final"; exit 0; }

say() { echo "build-guest: $*" >&2; }
work="$(mktemp -d "$root/.guest-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

say "fetching Debian's cloud kernel"
kpkg="$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -1)"
[[ -n "$kpkg" ]] || { say "cannot resolve linux-image-cloud-amd64 (run apt-get update)"; exit 1; }
apt-get download "$kpkg" >&2 2>/dev/null || (cd "$work" && apt-get download "$kpkg" >&2)
dpkg-deb -x ./"$kpkg"_*.deb kernel
kver="$(ls kernel/lib/modules)"

say "assembling the initramfs"
mkdir -p out rootfs/{bin,sbin,etc,proc,sys,dev,tmp,root,home/vz/.ssh,lib/modules,run,var/log,etc/dropbear}
cp /bin/busybox rootfs/bin/busybox
for app in $(/bin/busybox --list); do
  [[ -e "rootfs/bin/$app" ]] || ln -s busybox "rootfs/bin/$app"
done
cp /usr/sbin/dropbear rootfs/sbin/dropbear
# curl, so tests can call the API server from inside the guest and verify its certificate.
cp /usr/bin/curl rootfs/bin/curl
# dropbear and curl are linked dynamically: bring their libraries and the loader.
for lib in $( (ldd /usr/sbin/dropbear; ldd /usr/bin/curl) | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "rootfs$(dirname "$lib")"
  cp -L "$lib" "rootfs$lib"
done
mods=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk fuse virtiofs)
for m in "${mods[@]}"; do
  cp "$(find kernel/lib/modules -name "$m.ko")" rootfs/lib/modules/
done

ssh-keygen -q -t ed25519 -N '' -C vz-test-guest -f out/id_ed25519 2>/dev/null ||
  dropbearkey -t ed25519 -f out/id_ed25519.db >/dev/null
cp out/id_ed25519.pub rootfs/home/vz/.ssh/authorized_keys
mkdir -p rootfs/root/.ssh
cp out/id_ed25519.pub rootfs/root/.ssh/authorized_keys
chmod 700 rootfs/root rootfs/root/.ssh
hash="$(openssl passwd -6 vz)"
cat >rootfs/etc/passwd <<PW
root:x:0:0:root:/root:/bin/sh
vz:x:1000:1000:vz:/home/vz:/bin/sh
PW
cat >rootfs/etc/shadow <<SH
root:*:19000:0:99999:7:::
vz:$hash:19000:0:99999:7:::
SH
echo "root:x:0:" >rootfs/etc/group
echo "vz:x:1000:" >>rootfs/etc/group
echo "/bin/sh" >rootfs/etc/shells
chmod 600 rootfs/etc/shadow

cat >rootfs/etc/udhcpc.script <<'SCRIPT'
#!/bin/sh
# busybox udhcpc hook: apply the lease to the interface.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    ;;
esac
SCRIPT
chmod +x rootfs/etc/udhcpc.script

cat >rootfs/init <<'INIT'
#!/bin/sh
# PID 1 of the test guest: drivers, DHCP, sshd; `poweroff` (SIGUSR2) and SIGTERM power off.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover \
    net_failover virtio_net virtio_blk fuse virtiofs; do
  insmod /lib/modules/$m.ko || echo "guest: insmod $m failed"
done
hostname vz-guest
chown -R 1000:1000 /home/vz && chmod 700 /home/vz/.ssh
ip link set lo up
ip link set eth0 up
echo "guest: requesting an address"
udhcpc -i eth0 -s /etc/udhcpc.script -t 20 -T 1 -A 2 -b -q >/dev/null 2>&1
ip -4 addr show eth0 | sed -n 's/ *inet \([0-9.]*\).*/guest: eth0 address \1/p'
dropbear -R -E -p 22 2>/var/log/dropbear.log
echo "guest: sshd started"
trap 'echo "guest: powering off"; sync; poweroff -f' USR2 TERM
# The serial console answers each line it reads, so what attach sends can be seen.
(while read -r line; do echo "guest: console read: $line"; done) </dev/ttyS0 >/dev/ttyS0 2>&1 &
while :; do sleep 3600 & wait $!; done
INIT
chmod +x rootfs/init

(cd rootfs && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >out/initrd.img
cp kernel/boot/vmlinuz-"$kver" out/vmlinuz
truncate -s 64M out/disk.img
printf 'vz-test-disk\n' | dd of=out/disk.img conv=notrunc status=none
echo "console=ttyS0 panic=-1 quiet" >out/cmdline
echo "$kver" >out/kernel-version

rm -rf "$final.tmp"
mv out "$final.tmp"
mv -T "$final.tmp" "$final"
say "guest ready in $final"
echo "$final"
