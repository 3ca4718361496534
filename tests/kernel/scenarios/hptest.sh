#!/bin/sh
# Watched variables on huge pages: THP and hugetlbfs (tail subpages).
# vmon-timeout: 120
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }

insmod "$VMON_KO" || fail "insmod"
echo 1000000 > /proc/variable_monitor/def_interval_ns
ran=0
if [ -w /sys/kernel/mm/transparent_hugepage/enabled ]; then
	echo always > /sys/kernel/mm/transparent_hugepage/enabled
	"$VMON_BIN/hptest" thp; rc=$?
	[ $rc = 0 ] && ran=$((ran+1))
	[ $rc = 0 ] || [ $rc = 77 ] || fail "hptest thp"
else
	echo "no THP in this kernel (PREEMPT_RT): THP part skipped"
fi
echo 8 > /proc/sys/vm/nr_hugepages
"$VMON_BIN/hptest" hugetlb; rc=$?
[ $rc = 0 ] || fail "hptest hugetlb ($rc)"
ran=$((ran+1))
rmmod variable_monitor || fail "rmmod"
echo "PASS ($ran huge page kinds)"
