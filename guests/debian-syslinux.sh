#!/bin/bash
# Builds a bootable PC hard disk holding the Debian test guest: an MBR (SYSLINUX's mbr.bin) with one active FAT16
# partition on which SYSLINUX is installed, with a syslinux.cfg that boots guests/cache/vmlinuz and
# initramfs.cpio.gz with `console=ttyS0 panic=-1`; and a qcow2 copy of the same disk. Debian 12's syslinux,
# syslinux-common and mtools come from `apt-get download` and run unpacked (mtools writes the file system into an
# image file, so no loop mount and no root beyond apt); qemu-img (qemu-utils) makes the qcow2 copy.
#
# Usage:  guests/debian-linux.sh && guests/debian-syslinux.sh   (as root on Debian 12; idempotent, cached)
# Output: guests/cache/syslinux.img (64 MiB, raw) and guests/cache/syslinux.qcow2; their paths are printed as
#         `name=path` lines.
# Env:    VX86_GUEST_CACHE overrides the cache directory.
#
# Boot:   vx86 -bios guests/cache/firmware/bios-256k.bin -drive file=guests/cache/syslinux.img,format=raw -nographic
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${VX86_GUEST_CACHE:-$here/cache}
debs=$cache/debs
mkdir -p "$debs"

log() { echo "debian-syslinux: $*" >&2; }
. "$here/apt.sh"

kernel=$cache/vmlinuz
initrd=$cache/initramfs.cpio.gz
[ -s "$kernel" ] && [ -s "$initrd" ] || die "no $kernel or $initrd: run guests/debian-linux.sh first"
command -v qemu-img >/dev/null || die "needs qemu-img (apt-get install qemu-utils)"

# The disk: 64 MiB of 512-byte sectors, the partition from 1 MiB to the end, CHS geometry 16 heads x 63 sectors.
disk_sectors=131072
part_start=2048
part_sectors=$((disk_sectors - part_start))
heads=16
sectors_per_track=63

raw=$cache/syslinux.img
qcow2=$cache/syslinux.qcow2
debs_used=("$(fetch syslinux)" "$(fetch syslinux-common)" "$(fetch mtools)")

# One little-endian 32-bit value as printf escapes.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# The CHS triple (head; sector with cylinder bits 9-8; cylinder bits 7-0) of LBA $1, as printf escapes.
chs() {
    local c=$(($1 / (heads * sectors_per_track))) h=$(($1 / sectors_per_track % heads)) s=$(($1 % sectors_per_track + 1))
    printf '\\x%02x\\x%02x\\x%02x' "$h" $((s | (c >> 8 & 3) << 6)) $((c & 255))
}

if stale "$raw" "${debs_used[@]}" "$kernel" "$initrd"; then
    tools=$cache/syslinux-root
    rm -rf "$tools"
    for deb in "${debs_used[@]}"; do dpkg-deb -x "$deb" "$tools"; done
    mbr=$tools/usr/lib/syslinux/mbr/mbr.bin
    [ -s "$mbr" ] || die "no mbr.bin in the syslinux-common package"
    # The unpacked mtools (which the mtools variant of `syslinux` runs) with no drive configuration to check.
    export PATH=$tools/usr/bin:$PATH MTOOLSRC=/dev/null MTOOLS_SKIP_CHECK=1

    # The partition on its own first: a FAT16 file system that knows it starts at sector $part_start (its hidden
    # sectors), SYSLINUX's boot sector and ldlinux.sys/ldlinux.c32 in it, then the guest and the configuration.
    part=$cache/syslinux-part.tmp
    rm -f "$part"
    truncate -s $((part_sectors * 512)) "$part"
    mformat -i "$part" -T "$part_sectors" -h "$heads" -s "$sectors_per_track" -H "$part_start" -v VX86 ::
    syslinux --install "$part"
    printf '%s\n' "DEFAULT linux" "PROMPT 0" "TIMEOUT 0" "SERIAL 0 115200" "LABEL linux" \
        "    KERNEL /vmlinuz" "    INITRD /initrd.gz" "    APPEND console=ttyS0 panic=-1" > "$cache/syslinux.cfg"
    mcopy -i "$part" "$cache/syslinux.cfg" ::/syslinux.cfg
    mcopy -i "$part" "$kernel" ::/vmlinuz
    mcopy -i "$part" "$initrd" ::/initrd.gz
    rm "$cache/syslinux.cfg"

    # The whole disk: SYSLINUX's MBR code, one active FAT16 (LBA) partition entry, the boot signature, the
    # partition at its place.
    disk=$raw.tmp
    rm -f "$disk"
    truncate -s $((disk_sectors * 512)) "$disk"
    dd if="$mbr" of="$disk" bs=440 count=1 conv=notrunc status=none
    printf "\\x80$(chs $part_start)\\x0e$(chs $((disk_sectors - 1)))$(le32 $part_start)$(le32 $part_sectors)" |
        dd of="$disk" bs=1 seek=446 conv=notrunc status=none
    printf '\x55\xaa' | dd of="$disk" bs=1 seek=510 conv=notrunc status=none
    dd if="$part" of="$disk" bs=512 seek="$part_start" conv=notrunc,sparse status=none
    rm -f "$part"
    rm -rf "$tools"
    mv "$disk" "$raw"
fi

if [ ! -s "$qcow2" ] || [ "$raw" -nt "$qcow2" ]; then
    qemu-img convert -f raw -O qcow2 "$raw" "$qcow2.tmp"
    mv "$qcow2.tmp" "$qcow2"
fi
echo "syslinux_raw=$raw"
echo "syslinux_qcow2=$qcow2"
