#!/bin/sh
# insmod/rmmod 200 times with watches active, dumps pending and a reader
# blocked in read(): rmmod must refuse while files are open (EBUSY, no
# hang), and succeed cleanly once they are closed.
# vmon-timeout: 1200
fail() { echo "FAIL (cycle $n): $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
n=0
cycles=${VMON_CYCLES:-200}
while [ $n -lt $cycles ]; do
	n=$((n+1))
	insmod "$VMON_KO" || fail "insmod"
	echo 0 > /proc/variable_monitor/dump_reset_sec
	# the old file would satisfy the wait before the new job truncates it
	rm -f /tmp/c.out
	# threshold -1: every watch breaches at once, so dump work is queued
	"$VMON_BIN/vmtest" hold 32 100 1000000 -1 > /tmp/c.out 2>&1 &
	h=$!
	"$VMON_BIN/vmon_read" drain -o /dev/null -t 100 -b 4096 -d 20 > /dev/null 2>&1 &
	r=$!
	i=0
	until grep -q ready /tmp/c.out || [ $i -ge 3000 ]; do sleep 0.02; i=$((i+1)); done
	grep -q ready /tmp/c.out || fail "watcher did not start: $(cat /tmp/c.out)"
	rmmod variable_monitor 2>/dev/null && fail "rmmod succeeded while watches and a reader were open"
	kill -9 $h $r
	wait $h $r 2>/dev/null
	i=0
	until rmmod variable_monitor 2>/dev/null; do
		i=$((i+1))
		[ $i -ge 600 ] && fail "rmmod still refused after the watchers died"
		sleep 0.05
	done
done
grep -q variable_monitor /proc/modules && fail "still loaded"
echo "PASS $cycles cycles"
