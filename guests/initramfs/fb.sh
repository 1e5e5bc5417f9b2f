#!/bin/busybox sh
# The vx86 guest's framebuffer console test (in fb-modules.cpio.gz, run by /init with `vx86.fb` once it loaded the
# std-vga's DRM driver, bochs, and the modules it needs): checks that the driver made a framebuffer and prints its
# name and mode, clears the console's screen and writes known lines at its top (and on the serial console, as
# VX86-FB-TEXT lines), waits for the fbdev emulation to copy its shadow buffer to the card's memory, and powers
# off through Bochs' port. (A normal power-off runs the driver's shutdown hook, which blanks the screen before vx86
# takes its screenshot.)
fb=/sys/class/graphics/fb0
for _ in $(seq 50); do
    [ -e $fb ] && break
    sleep 0.1
done
if [ ! -e $fb ]; then
    echo "VX86-FB-ERROR no framebuffer"
    exit 1
fi
echo "VX86-FB-NAME $(cat $fb/name)"
echo "VX86-FB-MODE $(cat $fb/virtual_size) $(cat $fb/bits_per_pixel) $(cat $fb/modes)"
# No more kernel messages on the screen; clear it and hide the (blinking) cursor, then the known lines.
dmesg -n 1
printf '\033[H\033[J\033[?25l' > /dev/tty1
for line in "VX86 FRAMEBUFFER CONSOLE" "Linux $(uname -r) on bochs-drm, fb0 $(cat $fb/virtual_size)"; do
    echo "$line" > /dev/tty1
    echo "VX86-FB-TEXT $line"
done
sleep 1
echo VX86-FB-SHOWN
for c in S h u t d o w n; do
    printf $c | dd of=/dev/port bs=1 seek=$((0x8900)) count=1 2>/dev/null
done
