#!/bin/sh
# Issue 11, findings 4 and 5: limits per uid, with headroom kept for
# privileged openers, and a dump rate share per uid.
#  A. timers: one uid gets max_timers_per_user; all unprivileged uids
#     together leave reserved_timers to root.
#  B. watches: max_watches_per_user holds across fork; unprivileged uids
#     together leave reserved_watches to root.
#  C. dump rate: 8 processes of one uid breaching 100 times a second get
#     about user_dump_rate/2 dumps a second; a privileged watch breaching
#     at the same time loses none of its dumps.
#  D. no reader: unprivileged breaches do not dump, and say so in stats.
# vmon-timeout: 240
fail() { echo "FAIL: $*"; touch /tmp/h1 /tmp/h2; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k {print $2}' /proc/variable_monitor/stats; }
waitfor() {	# waitfor FILE REGEX TENTHS
	i=0
	until grep -q "$2" "$1" 2>/dev/null || [ $i -ge "$3" ]; do sleep 0.1; i=$((i+1)); done
	grep -q "$2" "$1" 2>/dev/null
}
Q="$VMON_BIN/quota"
rm -f /tmp/h1 /tmp/h2
insmod "$VMON_KO" max_timers=16 reserved_timers=4 max_timers_per_user=4 \
	max_watches=1024 reserved_watches=256 max_watches_per_user=300 || fail "insmod"

# A. timers
for u in 1000 1001 1002 1003; do
	runas $u "$Q" timers 8 /tmp/h1 > /tmp/t$u.out 2>&1 &
	waitfor /tmp/t$u.out '^timers' 100 || fail "uid $u timers: $(cat /tmp/t$u.out)"
	echo "uid $u: $(cat /tmp/t$u.out)"
done
"$Q" timers 4 /tmp/h1 > /tmp/t0.out 2>&1 &
waitfor /tmp/t0.out '^timers' 100 || fail "root timers"
echo "root: $(cat /tmp/t0.out)"
grep -q '^timers ok=4 err=28' /tmp/t1000.out || fail "uid 1000 was not held to max_timers_per_user=4"
grep -q '^timers ok=4 err=28' /tmp/t1002.out || fail "uid 1002 did not get its 4 timers"
grep -q '^timers ok=0 err=28' /tmp/t1003.out || fail "unprivileged uids took the timers reserved for root"
grep -q '^timers ok=4 err=0' /tmp/t0.out || fail "root could not use the reserved timers"
touch /tmp/h1
wait

# B. watches
for u in 1000 1001 1002; do
	runas $u "$Q" watches 100 8 /tmp/h2 > /tmp/w$u.out 2>&1 &
	waitfor /tmp/w$u.out '^watches' 300 || fail "uid $u watches: $(cat /tmp/w$u.out)"
	echo "uid $u, 8 processes x 100: $(cat /tmp/w$u.out)"
done
"$Q" watches 200 1 /tmp/h2 > /tmp/w0.out 2>&1 &
waitfor /tmp/w0.out '^watches' 300 || fail "root watches"
echo "root: $(cat /tmp/w0.out)"
grep -q '^watches total=300 err=28' /tmp/w1000.out || fail "fork got uid 1000 past max_watches_per_user=300"
grep -q '^watches total=168 err=28' /tmp/w1002.out || fail "unprivileged uids did not leave reserved_watches (1024-256-600=168 for uid 1002)"
grep -q '^watches total=200 err=0' /tmp/w0.out || fail "root could not use the reserved watches"
touch /tmp/h2
wait

# C. dump rate share
echo 0 > /proc/variable_monitor/dump_reset_sec
urate=$(cat /proc/variable_monitor/user_dump_rate)
"$VMON_BIN/vmon_read" drain -o /tmp/c.raw -t 30 -i 5 > /tmp/drain.out 2>&1 &
reader=$!
sleep 0.5
secs=4
t0=$(cut -d' ' -f1 /proc/uptime)
runas 1000 "$Q" flood $secs 8 flood-u 10 > /tmp/fu.out 2>&1 &
fu=$!
"$Q" flood $secs 1 flood-p 200 > /tmp/fp.out 2>&1 || fail "root flood"
wait $fu || fail "uid 1000 flood: $(cat /tmp/fu.out)"
# sleeps overshoot under TCG: the bound follows the time the flood took
el=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%d", b-a+1}')
sleep 2
kill $reader 2>/dev/null; wait $reader
"$VMON_BIN/vmon_read" parse /tmp/c.raw > /tmp/c.txt 2>&1
nu=$(grep -c '^BREACH .* name=flood-u ' /tmp/c.txt)
np=$(grep -c '^BREACH .* name=flood-p ' /tmp/c.txt)
echo "in $el s: uid 1000 (8 processes, ~800 edges/s) got $nu dumps, root (5 edges/s) got $np; rate_limited $(stat_of dumps_rate_limited), skipped $(stat_of dumps_skipped)"
share=$((urate / 2)); [ $share -ge 1 ] || share=1
max_u=$(( share * el + share + 2 ))
[ "$nu" -ge 1 ] || fail "no unprivileged dump at all"
[ "$nu" -le $max_u ] || fail "uid 1000 got $nu dumps in $el s, over its share ($share/s, at most $max_u)"
[ "$np" -ge $((secs * 5 - 2)) ] || fail "the privileged watch lost dumps ($np of about $((secs * 5)))"
[ "$(stat_of dumps_rate_limited)" -gt 0 ] || fail "dumps_rate_limited did not count"

# D. nobody reading
d0=$(stat_of dumps); n0=$(stat_of dumps_no_reader)
runas 1000 "$Q" flood 1 2 flood-n 20 > /tmp/fn.out 2>&1 || fail "flood without reader"
d1=$(stat_of dumps); n1=$(stat_of dumps_no_reader)
echo "no reader: dumps $d0 -> $d1, dumps_no_reader $n0 -> $n1"
[ "$d1" = "$d0" ] || fail "unprivileged breaches dumped with nobody reading"
[ "$n1" -gt "$n0" ] || fail "dumps_no_reader did not count"
rmmod variable_monitor || fail "rmmod"
echo PASS
