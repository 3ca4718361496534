#!/bin/sh
# Module loads, exposes its device and /proc files, answers a table of bad
# ioctls with the right errnos, leaks no watch, and unloads.
# vmon-timeout: 120
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }

insmod "$VMON_KO" || fail "insmod"
[ -c /dev/variable_monitor ] || fail "no /dev/variable_monitor"
mode=$(stat -c %a /dev/variable_monitor)
[ "$mode" = 666 ] || fail "device mode $mode, want 666"
for f in def_interval_ns min_interval_ns dump_reset_sec raw_stack_bytes stats timers watches; do
	[ -e /proc/variable_monitor/$f ] || fail "missing /proc/variable_monitor/$f"
done
[ "$(cat /proc/variable_monitor/def_interval_ns)" = 10000 ] || fail "def_interval_ns default"
[ "$(cat /proc/variable_monitor/dump_reset_sec)" = 5 ] || fail "dump_reset_sec default"
echo 5 > /proc/variable_monitor/def_interval_ns 2>/dev/null && fail "def_interval_ns accepted 5 ns"
dmesg | grep -q "variable_monitor: loaded" || fail "no load line in dmesg"
"$VMON_BIN/badioctl" || fail "badioctl table"
# issue 11 (L3): the size bits of the command are not matched, the struct's
# size field is, so a newer caller's larger struct is accepted or gets E2BIG
"$VMON_BIN/lowfix" ioctlsize || fail "ioctl commands with another struct size"
[ "$(stat_of watches)" = 0 ] || fail "watches left: $(stat_of watches)"
[ "$(stat_of timers)" = 0 ] || fail "timers left: $(stat_of timers)"
"$VMON_BIN/ibt_check" || fail "ibt_check"
# caps: per process, then global
P=/sys/module/variable_monitor/parameters
echo 10 > $P/max_watches_per_proc
"$VMON_BIN/vmtest" hold 11 0 > /tmp/cap.out 2>&1 && fail "11 watches accepted with max_watches_per_proc=10"
grep -q 'too many watches' /tmp/cap.out || fail "cap refusal message: $(cat /tmp/cap.out)"
"$VMON_BIN/vmtest" hold 10 0 > /tmp/cap.out 2>&1 || fail "10 watches refused with max_watches_per_proc=10"
echo 8192 > $P/max_watches_per_proc
echo 5 > $P/max_watches
"$VMON_BIN/vmtest" hold 6 0 > /tmp/cap.out 2>&1 && fail "6 watches accepted with max_watches=5"
grep -q 'too many watches' /tmp/cap.out || fail "global cap refusal message"
echo 65536 > $P/max_watches
[ "$(stat_of watches)" = 0 ] || fail "watches left after cap tests"
rmmod variable_monitor || fail "rmmod"
[ -e /dev/variable_monitor ] && fail "device still there after rmmod"
echo PASS
