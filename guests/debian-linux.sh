#!/bin/bash
# Fetches Debian 12's stock kernel and busybox-static and builds the vx86 test guest: a gzip'd cpio (newc)
# initramfs whose /init prints VX86-INIT-START, runs initramfs/workload.sh (RESULT lines), and powers off; with
# `vx86.shell` on the kernel command line it gives an interactive busybox shell on the console instead, and with
# `vx86.panic` it crashes the kernel on purpose (SysRq c), which the pvpanic driver it loaded reports to vx86.
# A second archive, disk-modules.cpio.gz, holds the kernel's IDE disk, CD-ROM and FAT modules and
# initramfs/disk.sh: appended to the initramfs (the kernel unpacks both), with `vx86.disk` on the command line
# /init runs disk.sh instead of the workload (it copies a file on the FAT file system of the first IDE disk,
# writes another, and copies the start of the CD-ROM there). A third, fb-modules.cpio.gz, holds the DRM modules of
# the std-vga (bochs) and initramfs/fb.sh, which /init runs with `vx86.fb`: the framebuffer console comes up, shows
# known text, and the guest powers off (a test checks vx86's screenshot).
#
# Usage:  guests/debian-linux.sh          (as root on Debian 12; idempotent, downloads are cached)
# Output: guests/cache/vmlinuz, guests/cache/initramfs.cpio.gz, guests/cache/disk-modules.cpio.gz,
#         guests/cache/fb-modules.cpio.gz,
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
# the disk archive the IDE disk and CD-ROM stack and FAT, for the display archive the bochs DRM driver and the
# DRM core and memory managers it needs, in load order (each after the modules it depends on, as the `depends=`
# of each module's .modinfo names them).
pvpanic_modules="pvpanic.ko pvpanic-mmio.ko"
disk_modules="scsi_common.ko scsi_mod.ko libata.ko ata_piix.ko crct10dif_common.ko crct10dif_generic.ko
    crc-t10dif.ko crc64.ko crc64_rocksoft_generic.ko crc64-rocksoft.ko t10-pi.ko sd_mod.ko cdrom.ko sr_mod.ko
    fat.ko vfat.ko nls_cp437.ko nls_ascii.ko"
fb_modules="drm.ko drm_kms_helper.ko ttm.ko drm_ttm_helper.ko drm_vram_helper.ko bochs.ko"
modules=$cache/modules
modules_missing() {
    for m in $pvpanic_modules $disk_modules $fb_modules; do [ -s "$modules/$m" ] || return 0; done
    return 1
}
if [ ! -s "$cache/vmlinuz" ] || [ "$kernel_deb" -nt "$cache/vmlinuz" ] || modules_missing; then
    rm -rf "$cache/kernel-root" "$modules"
    dpkg-deb -x "$kernel_deb" "$cache/kernel-root"
    vmlinuz=$(ls "$cache"/kernel-root/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
    [ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in $kernel_deb"
    mkdir -p "$modules"
    for m in $pvpanic_modules $disk_modules $fb_modules; do
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

# An archive of extra modules (in lib/modules/$1 with their load order, loaded by /init before it runs the script)
# and initramfs/$1.sh, to append to the initramfs; $2 is the archive, the rest the modules. Prints nothing.
module_archive() {
    local name=$1 archive=$2 tree=$cache/$1-modules-root
    shift 2
    rm -rf "$tree"
    mkdir -p "$tree/lib/modules/$name"
    for m in "$@"; do cp "$modules/$m" "$tree/lib/modules/$name/$m"; done
    echo "$@" > "$tree/lib/modules/$name/order"
    cp "$here/initramfs/$name.sh" "$tree/$name.sh"
    find "$tree" -exec touch -h -d @0 {} +
    (cd "$tree" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9 -n) \
        > "$archive.tmp"
    mv "$archive.tmp" "$archive"
}
disk_modules_archive=$cache/disk-modules.cpio.gz
module_archive disk "$disk_modules_archive" $disk_modules
fb_modules_archive=$cache/fb-modules.cpio.gz
module_archive fb "$fb_modules_archive" $fb_modules

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
echo "fb_modules=$fb_modules_archive"
echo "expected=$cache/expected.txt"
