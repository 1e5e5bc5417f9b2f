#!/bin/busybox sh
# The vx86 guest's disk test (in disk-modules.cpio.gz, run by /init with `vx86.disk`): loads the IDE disk stack
# and FAT, prints the disk's transfer mode, mounts the FAT file system on the whole first IDE disk, copies IN.TXT
# to OUT.TXT, writes SEQ.TXT (the numbers 1 to 20000, a line each), syncs, drops the page cache, reads both back
# from the disk, and unmounts. Each step prints a VX86-DISK line; the host checks the image with mtools after
# power-off.
for m in $(cat /lib/modules/disk/order); do
    insmod "/lib/modules/disk/$m" || echo "VX86-DISK-ERROR insmod $m"
done
# The SCSI scan runs asynchronously: wait for the disk's node (devtmpfs makes it).
for _ in $(seq 100); do
    [ -b /dev/sda ] && break
    sleep 0.1
done
# The transfer mode libata set the disk to (XFER_MW_DMA_2 on a PIIX3).
echo "VX86-DISK-XFER $(cat /sys/class/ata_device/dev1.0/xfer_mode)"
mkdir -p /mnt
if ! mount -t vfat /dev/sda /mnt; then
    echo "VX86-DISK-ERROR mount"
    exit 1
fi
echo VX86-DISK-MOUNTED
cp /mnt/IN.TXT /mnt/OUT.TXT || echo "VX86-DISK-ERROR copy"
seq 1 20000 > /mnt/SEQ.TXT || echo "VX86-DISK-ERROR write"
sync
echo 3 > /proc/sys/vm/drop_caches
if cmp /mnt/IN.TXT /mnt/OUT.TXT && seq 1 20000 | cmp - /mnt/SEQ.TXT; then
    echo VX86-DISK-READBACK-SAME
fi
umount /mnt || echo "VX86-DISK-ERROR umount"
