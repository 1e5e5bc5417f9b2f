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

# from_package PACKAGE PATH-IN-PACKAGE NAME: copies the file at PATH-IN-PACKAGE of Debian's PACKAGE to $firmware/NAME
# (again only when the package is newer) and prints NAME's path.
from_package() {
    local deb out root
    deb=$(fetch "$1")
    out=$firmware/$3
    if [ ! -s "$out" ] || [ "$deb" -nt "$out" ]; then
        root=$cache/$1-root
        rm -rf "$root"
        dpkg-deb -x "$deb" "$root"
        [ -s "$root/$2" ] || die "no $2 in $deb"
        cp "$root/$2" "$out.tmp"
        mv "$out.tmp" "$out"
        rm -rf "$root"
    fi
    echo "$out"
}

echo "seabios=$(from_package seabios usr/share/seabios/bios-256k.bin bios-256k.bin)"
echo "vgabios=$(from_package vgabios usr/share/vgabios/vgabios-stdvga.bin vgabios-stdvga.bin)"
