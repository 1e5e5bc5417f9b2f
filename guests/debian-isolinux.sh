#!/bin/bash
# Builds a bootable CD-ROM image holding the Debian test guest: an ISO 9660 file system with an El Torito
# no-emulation boot entry for ISOLINUX (isolinux.bin, boot info table patched in), ldlinux.c32 beside it, and an
# isolinux.cfg that boots guests/cache/vmlinuz and initramfs.cpio.gz with `console=ttyS0 panic=-1`, as the SYSLINUX
# disk of guests/debian-syslinux.sh does. Debian 12's isolinux and syslinux-common come from `apt-get download` and
# are unpacked (no root beyond apt); xorriso (apt-get install xorriso) writes the image.
#
# Usage:  guests/debian-linux.sh && guests/debian-isolinux.sh   (as root on Debian 12; idempotent, cached)
# Output: guests/cache/isolinux.iso; its path is printed as a `name=path` line.
# Env:    VX86_GUEST_CACHE overrides the cache directory.
#
# Boot:   vx86 -bios guests/cache/firmware/bios-256k.bin -cdrom guests/cache/isolinux.iso -boot d -nographic
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${VX86_GUEST_CACHE:-$here/cache}
debs=$cache/debs
mkdir -p "$debs"

log() { echo "debian-isolinux: $*" >&2; }
. "$here/apt.sh"

kernel=$cache/vmlinuz
initrd=$cache/initramfs.cpio.gz
[ -s "$kernel" ] && [ -s "$initrd" ] || die "no $kernel or $initrd: run guests/debian-linux.sh first"
command -v xorriso >/dev/null || die "needs xorriso (apt-get install xorriso)"

iso=$cache/isolinux.iso
debs_used=("$(fetch isolinux)" "$(fetch syslinux-common)")

if stale "$iso" "${debs_used[@]}" "$kernel" "$initrd"; then
    tools=$cache/isolinux-root
    tree=$cache/isolinux-tree
    rm -rf "$tools" "$tree"
    for deb in "${debs_used[@]}"; do dpkg-deb -x "$deb" "$tools"; done
    isolinux_bin=$tools/usr/lib/ISOLINUX/isolinux.bin
    ldlinux_c32=$tools/usr/lib/syslinux/modules/bios/ldlinux.c32
    [ -s "$isolinux_bin" ] || die "no isolinux.bin in the isolinux package"
    [ -s "$ldlinux_c32" ] || die "no ldlinux.c32 in the syslinux-common package"

    # The file system: ISOLINUX and its configuration in /isolinux, the guest at the root.
    mkdir -p "$tree/isolinux"
    cp "$isolinux_bin" "$ldlinux_c32" "$tree/isolinux/"
    printf '%s\n' "DEFAULT linux" "PROMPT 0" "TIMEOUT 0" "SERIAL 0 115200" "LABEL linux" \
        "    KERNEL /vmlinuz" "    INITRD /initrd.gz" "    APPEND console=ttyS0 panic=-1" > "$tree/isolinux/isolinux.cfg"
    cp "$kernel" "$tree/vmlinuz"
    cp "$initrd" "$tree/initrd.gz"

    # El Torito: isolinux.bin as a no-emulation boot image, its first 4 sectors loaded, with the boot info table
    # (where the image and the volume are) that ISOLINUX reads to find itself; the boot catalog beside it.
    xorriso -as mkisofs -quiet -o "$iso.tmp" -V VX86 -R -J \
        -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
        "$tree" || die "xorriso failed"
    rm -rf "$tools" "$tree"
    mv "$iso.tmp" "$iso"
fi
echo "isolinux_iso=$iso"
