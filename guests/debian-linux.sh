#!/bin/bash
# Fetches Debian 12's stock kernel and busybox-static and builds the vx86 test guest: a gzip'd cpio (newc)
# initramfs whose /init prints VX86-INIT-START, runs initramfs/workload.sh (RESULT lines), and powers off; with
# `vx86.shell` on the kernel command line it gives an interactive busybox shell on the console instead, and with
# `vx86.panic` it crashes the kernel on purpose (SysRq c), which the pvpanic driver it loaded reports to vx86.
# A second archive, disk-modules.cpio.gz, holds the kernel's IDE disk, CD-ROM and FAT modules and
# initramfs/disk.sh: appended to the initramfs (the kernel unpacks both), with `vx86.disk` on the command line
# /init runs disk.sh instead of the workload (it copies a file on the FAT file system of the first IDE disk,
# writes another, and copies the start of the CD-ROM there).
#
# Usage:  guests/debian-linux.sh          (as root on Debian 12; idempotent, downloads are cached)
# Output: guests/cache/vmlinuz, guests/cache/initramfs.cpio.gz, guests/cache/disk-modules.cpio.gz,
#         guests/cache/expected.txt (the workload's RESULT lines computed on the host with the same busybox);
#         their paths are printed as `name=path` lines.
# Env:    VX86_GUEST_CACHE overrides the cache directory.
#
# Boot:   vx86 -kernel guests/cache/vmlinuz -initrd guests/cache/initramfs.cpio.gz \
#              -append "console=ttyS0 panic=-1" -nographic          (add vx86.shell for a shell)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${VX86_GUEST_CACHE:-$here/cache}
debs=$cache/debs
mkdir -p "$debs"

log() { echo "debian-linux: $*" >&2; }
. "$here/apt.sh"

# The versioned kernel package that the linux-image-amd64 metapackage points to, e.g. linux-image-6.1.0-28-amd64.
kernel_pkg_file=$cache/kernel-package
if [ ! -s "$kernel_pkg_file" ]; then
    apt_update
    pkg=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || die "cannot resolve the kernel package that linux-image-amd64 depends on"
    echo "$pkg" > "$kernel_pkg_file"
fi
kernel_pkg=$(cat "$kernel_pkg_file")

kernel_deb=$(fetch "$kernel_pkg")
busybox_deb=$(fetch busybox-static)

# Unpack: the kernel only when its .deb is newer than the vmlinuz we took from it. Of the modules only the
# pvpanic pair is kept for the initramfs (with them a guest kernel panic reaches vx86's pvpanic device), and for
# the disk archive the IDE disk and CD-ROM stack and FAT, in load order (each after the modules it depends on).
pvpanic_modules="pvpanic.ko pvpanic-mmio.ko"
disk_modules="scsi_common.ko scsi_mod.ko libata.ko ata_piix.ko crct10dif_common.ko crct10dif_generic.ko
    crc-t10dif.ko crc64.ko crc64_rocksoft_generic.ko crc64-rocksoft.ko t10-pi.ko sd_mod.ko cdrom.ko sr_mod.ko
    fat.ko vfat.ko nls_cp437.ko nls_ascii.ko"
modules=$cache/modules
modules_missing() {
    for m in $pvpanic_modules $disk_modules; do [ -s "$modules/$m" ] || return 0; done
    return 1
}
if [ ! -s "$cache/vmlinuz" ] || [ "$kernel_deb" -nt "$cache/vmlinuz" ] || modules_missing; then
    rm -rf "$cache/kernel-root" "$modules"
    dpkg-deb -x "$kernel_deb" "$cache/kernel-root"
    vmlinuz=$(ls "$cache"/kernel-root/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
    [ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in $kernel_deb"
    mkdir -p "$modules"
    for m in $pvpanic_modules $disk_modules; do
        found=$(find "$cache/kernel-root/lib/modules" -name "$m" | head -n1)
        [ -n "$found" ] || die "no $m in $kernel_deb"
        cp "$found" "$modules/$m"
    done
    cp "$vmlinuz" "$cache/vmlinuz.tmp"
    mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
    rm -rf "$cache/kernel-root"
fi
rm -rf "$cache/busybox-root"
dpkg-deb -x "$busybox_deb" "$cache/busybox-root"
busybox=$cache/busybox-root/bin/busybox
[ -x "$busybox" ] || die "no /bin/busybox in $busybox_deb"

if ! command -v cpio >/dev/null; then
    log "installing cpio"
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cpio >&2 || die "cannot install cpio (run as root)"
fi

# The initramfs tree: busybox, /init, the workload, and the nodes the kernel needs before /init runs.
root=$cache/initramfs-root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
for m in $pvpanic_modules; do cp "$modules/$m" "$root/lib/modules/$m"; done
cp "$here/initramfs/init" "$root/init"
cp "$here/initramfs/workload.sh" "$root/workload.sh"
chmod 755 "$root/init" "$root/bin/busybox"
mknod -m 600 "$root/dev/console" c 5 1 || die "mknod /dev/console failed (run as root)"
mknod -m 666 "$root/dev/null" c 1 3
find "$root" -exec touch -h -d @0 {} +
initramfs=$cache/initramfs.cpio.gz
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9 -n) \
    > "$initramfs.tmp"
mv "$initramfs.tmp" "$initramfs"

# The disk archive: the modules in lib/modules/disk with their load order, and disk.sh.
disk_root=$cache/disk-modules-root
rm -rf "$disk_root"
mkdir -p "$disk_root/lib/modules/disk"
for m in $disk_modules; do cp "$modules/$m" "$disk_root/lib/modules/disk/$m"; done
echo $disk_modules > "$disk_root/lib/modules/disk/order"
cp "$here/initramfs/disk.sh" "$disk_root/disk.sh"
find "$disk_root" -exec touch -h -d @0 {} +
disk_modules_archive=$cache/disk-modules.cpio.gz
(cd "$disk_root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9 -n) \
    > "$disk_modules_archive.tmp"
mv "$disk_modules_archive.tmp" "$disk_modules_archive"

# The expected results: the same workload with the same busybox, on the host.
hostbin=$cache/hostbin
rm -rf "$hostbin"
mkdir -p "$hostbin"
"$busybox" --install -s "$hostbin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PATH=$hostbin VX86_WORKDIR=$work "$busybox" sh "$here/initramfs/workload.sh" > "$cache/expected.txt.tmp"
grep -q '^RESULT ' "$cache/expected.txt.tmp" || die "the workload printed no RESULT lines on the host"
mv "$cache/expected.txt.tmp" "$cache/expected.txt"

echo "kernel=$cache/vmlinuz"
echo "initramfs=$initramfs"
echo "disk_modules=$disk_modules_archive"
echo "expected=$cache/expected.txt"
