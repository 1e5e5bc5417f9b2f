#!/bin/bash
# Fetches Debian 12's SeaBIOS (package `seabios`), the unmodified PC firmware vx86 boots with `-bios` as QEMU does,
# and the std-vga's video BIOS (package `vgabios`), which vx86 gives SeaBIOS as the VGA's option ROM when it lies
# beside the BIOS image, as QEMU finds it in its firmware folder.
#
# Usage:  guests/debian-firmware.sh       (as root on Debian 12; idempotent, downloads are cached)
# Output: guests/cache/firmware/bios-256k.bin and vgabios-stdvga.bin; their paths are printed as `name=path` lines.
# Env:    VX86_GUEST_CACHE overrides the cache directory.
#
# Boot:   vx86 -bios guests/cache/firmware/bios-256k.bin          (boots the bundled demo disk through SeaBIOS)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${VX86_GUEST_CACHE:-$here/cache}
debs=$cache/debs
firmware=$cache/firmware
mkdir -p "$debs" "$firmware"

log() { echo "debian-firmware: $*" >&2; }
. "$here/apt.sh"

seabios_deb=$(fetch seabios)
if [ ! -s "$firmware/bios-256k.bin" ] || [ "$seabios_deb" -nt "$firmware/bios-256k.bin" ]; then
    root=$cache/seabios-root
    rm -rf "$root"
    dpkg-deb -x "$seabios_deb" "$root"
    [ -s "$root/usr/share/seabios/bios-256k.bin" ] || die "no bios-256k.bin in $seabios_deb"
    cp "$root/usr/share/seabios/bios-256k.bin" "$firmware/bios-256k.bin.tmp"
    mv "$firmware/bios-256k.bin.tmp" "$firmware/bios-256k.bin"
    rm -rf "$root"
fi
echo "seabios=$firmware/bios-256k.bin"

vgabios_deb=$(fetch vgabios)
if [ ! -s "$firmware/vgabios-stdvga.bin" ] || [ "$vgabios_deb" -nt "$firmware/vgabios-stdvga.bin" ]; then
    root=$cache/vgabios-root
    rm -rf "$root"
    dpkg-deb -x "$vgabios_deb" "$root"
    [ -s "$root/usr/share/vgabios/vgabios-stdvga.bin" ] || die "no vgabios-stdvga.bin in $vgabios_deb"
    cp "$root/usr/share/vgabios/vgabios-stdvga.bin" "$firmware/vgabios-stdvga.bin.tmp"
    mv "$firmware/vgabios-stdvga.bin.tmp" "$firmware/vgabios-stdvga.bin"
    rm -rf "$root"
fi
echo "vgabios=$firmware/vgabios-stdvga.bin"
