#!/bin/sh
# Issue 11 (L1): FOLL_WRITE only for private writable mappings.  uid 1000
# watches an int in a MAP_SHARED, writable mapping of a file on ext2 (a
# mapping that needs dirty tracking: since 6.5 GUP refuses a long-term pin
# for write there) and writes it: the watch is accepted on every kernel and
# sees the write through the page cache.
# vmon-timeout: 120
# vmon-kmods: loop crc32c_generic ext4
fail() { echo "FAIL: $*"; touch /tmp/sw.stop; sleep 1; rmmod variable_monitor 2>/dev/null; umount /mnt/sw 2>/dev/null; losetup -d /dev/loop1 2>/dev/null; exit 1; }
for m in $(cat /vmon/kmods/order); do
	grep -q "^$m " /proc/modules || insmod "/vmon/kmods/$m.ko" || fail "insmod $m"
done
dd if=/dev/zero of=/tmp/sw.img bs=1M count=8 2>/dev/null
losetup /dev/loop1 /tmp/sw.img || fail "losetup"
mke2fs -q /dev/loop1 >/dev/null 2>&1 || mke2fs /dev/loop1 >/dev/null || fail "mke2fs"
mkdir -p /mnt/sw
mount -t ext2 /dev/loop1 /mnt/sw || fail "mount ext2"
dd if=/dev/zero of=/mnt/sw/f bs=4096 count=1 2>/dev/null
chown 1000:1000 /mnt/sw/f
rm -f /tmp/sw.stop
insmod "$VMON_KO" || fail "insmod"
runas 1000 "$VMON_BIN/lowfix" shared /mnt/sw/f /tmp/sw.stop > /tmp/sw.out 2>&1 &
i=0
until grep -qE '^(ready|refused)' /tmp/sw.out || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
cat /tmp/sw.out
grep -q '^ready' /tmp/sw.out || fail "a watch on a shared file mapping was refused"
i=0
until [ "$(awk '$4=="shared" {print $9}' /proc/variable_monitor/watches)" = 1 ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done
awk 'NR==1 || $4=="shared"' /proc/variable_monitor/watches
[ "$(awk '$4=="shared" {print $9}' /proc/variable_monitor/watches)" = 1 ] || fail "the write to the shared mapping was not seen"
touch /tmp/sw.stop
wait
rmmod variable_monitor || fail "rmmod"
umount /mnt/sw; losetup -d /dev/loop1
echo PASS
