#!/bin/busybox sh
# The vx86 guest's disk test (in disk-modules.cpio.gz, run by /init with `vx86.disk` once it loaded the IDE disk
# and CD-ROM stack and FAT): prints the transfer modes, mounts the FAT file system on the whole first IDE disk,
# copies IN.TXT to OUT.TXT, writes SEQ.TXT (the numbers 1 to 20000, a line each) and CD.BIN (the first 64 KiB of
# the CD-ROM, if there is one), syncs, drops the page cache, reads the copies back from the disk, and unmounts.
# Each step prints a VX86-DISK line; the host checks the image with mtools after power-off.
# The SCSI scan runs asynchronously: wait for the disk's node (devtmpfs makes it).
for _ in $(seq 100); do
    [ -b /dev/sda ] && break
    sleep 0.1
done
# The transfer modes libata set the drives to (XFER_MW_DMA_2 on a PIIX3).
echo "VX86-DISK-XFER $(cat /sys/class/ata_device/dev1.0/xfer_mode)"
if [ -e /sys/class/ata_device/dev2.0 ]; then
    for _ in $(seq 100); do
        [ -b /dev/sr0 ] && break
        sleep 0.1
    done
    echo "VX86-CD-XFER $(cat /sys/class/ata_device/dev2.0/xfer_mode)"
fi
mkdir -p /mnt
if ! mount -t vfat /dev/sda /mnt; then
    echo "VX86-DISK-ERROR mount"
    exit 1
fi
echo VX86-DISK-MOUNTED
cp /mnt/IN.TXT /mnt/OUT.TXT || echo "VX86-DISK-ERROR copy"
seq 1 20000 > /mnt/SEQ.TXT || echo "VX86-DISK-ERROR write"
if [ -b /dev/sr0 ]; then
    dd if=/dev/sr0 of=/mnt/CD.BIN bs=2048 count=32 2>/dev/null || echo "VX86-DISK-ERROR cd"
fi
sync
echo 3 > /proc/sys/vm/drop_caches
if cmp /mnt/IN.TXT /mnt/OUT.TXT && seq 1 20000 | cmp - /mnt/SEQ.TXT; then
    echo VX86-DISK-READBACK-SAME
fi
umount /mnt || echo "VX86-DISK-ERROR umount"
