#!/bin/sh
# Issue 11, finding 2: the pages watches pin are charged to the owner's
# user against RLIMIT_MEMLOCK (once per folio, a whole THP counts 2 MiB),
# the limit holds across fork, going over it is EDQUOT, and the charge is
# given back when watches end.  Root (CAP_IPC_LOCK) is not limited.
# vmon-timeout: 180
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k {print $2}' /proc/variable_monitor/stats; }
LIMIT_KB=8192

insmod "$VMON_KO" || fail "insmod"
if [ -d /sys/kernel/mm/transparent_hugepage ] &&
	grep -q '\[always\]' /sys/kernel/mm/transparent_hugepage/enabled; then
	stride=2097152; max=64; folio_kb=2048
else
	stride=4096; max=4096; folio_kb=4
fi
echo "limit ${LIMIT_KB} KiB, one watch per $stride bytes (folio ${folio_kb} KiB)"
( ulimit -l $LIMIT_KB && exec runas 1000 "$VMON_BIN/pinlimit" $stride $max ) > /tmp/pl.out 2>&1 &
pl=$!
i=0
until grep -q '^child' /tmp/pl.out || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
wait $pl
st=$?
cat /tmp/pl.out
grep -q '^same-page 64 ok' /tmp/pl.out || fail "64 watches on one page were refused"
filled=$(sed -n 's/^filled \([0-9]*\) err=.*/\1/p' /tmp/pl.out)
ferr=$(sed -n 's/^filled [0-9]* err=\([0-9]*\).*/\1/p' /tmp/pl.out)
[ "$ferr" = 122 ] || fail "filling did not stop with EDQUOT (err=$ferr after $filled watches)"
pinned_kb=$(sed -n 's/^charged_kb=//p' /tmp/pl.out)
echo "charged while full: $pinned_kb KiB for $filled + 64 watches (limit $LIMIT_KB KiB)"
[ "$pinned_kb" -le $LIMIT_KB ] || fail "charged $pinned_kb KiB, over the limit"
[ $((pinned_kb + folio_kb)) -gt $LIMIT_KB ] || fail "stopped at $pinned_kb KiB, a folio short of the limit"
grep -q '^child err=122 ' /tmp/pl.out || fail "a forked child was not held to its user's limit"
grep -q '^after-cancel err=0 ' /tmp/pl.out || fail "cancelling a watch did not give its charge back"
[ $st = 0 ] || fail "pinlimit exit status $st"
i=0
until [ "$(stat_of pinned_pages)" = 0 ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done
[ "$(stat_of pinned_pages)" = 0 ] || fail "$(stat_of pinned_pages) pages still charged after every watch ended"

# root (CAP_IPC_LOCK) under the same limit: not charged, not limited
( ulimit -l $LIMIT_KB && exec "$VMON_BIN/pinlimit" $stride 8 ) > /tmp/pr.out 2>&1 || { cat /tmp/pr.out; fail "root pinlimit"; }
grep -q '^filled 8 err=0' /tmp/pr.out || { cat /tmp/pr.out; fail "root was limited"; }
echo "root: $(grep '^filled' /tmp/pr.out)"
rmmod variable_monitor || fail "rmmod"
echo PASS
