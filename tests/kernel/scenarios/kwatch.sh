#!/bin/sh
# Issue 11, finding 7: kernel watches.  CAP_PERFMON alone may watch the
# exported load averages (avenrun) only; any other symbol needs
# CAP_SYS_ADMIN and must lie in the core kernel's .data or .bss (not text
# or rodata); a kernel watch's value is never printed to dmesg.
# vmon-timeout: 120
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
K="$VMON_BIN/kwatch"
insmod "$VMON_KO" || fail "insmod"
ks=$(awk '$1=="kallsyms" {print $2}' /proc/variable_monitor/stats)
r() { echo "$1: $(shift; "$@")"; }
pa=$(runas -c perfmon 1000 "$K" avenrun 0x7fffffffffffffff)
pj=$(runas -c perfmon 1000 "$K" jiffies_64 0x7fffffffffffffff)
echo "CAP_PERFMON: $pa; $pj"
[ "$pa" = "kwatch avenrun err=0" ] || fail "CAP_PERFMON could not watch avenrun"
[ "$pj" = "kwatch jiffies_64 err=1" ] || fail "CAP_PERFMON watched jiffies_64 (want EPERM)"
pu=$(runas 1000 "$K" avenrun 0x7fffffffffffffff)
[ "$pu" = "kwatch avenrun err=1" ] || fail "an unprivileged user watched avenrun: $pu"
if [ "$ks" = 1 ]; then
	rj=$("$K" jiffies_64 0)
	rt=$("$K" schedule 0x7fffffffffffffff)
	rb=$("$K" linux_banner 0x7fffffffffffffff)
	echo "CAP_SYS_ADMIN: $rj; $rt; $rb"
	[ "$rj" = "kwatch jiffies_64 err=0" ] || fail "root could not watch jiffies_64 (.data)"
	[ "$rt" = "kwatch schedule err=22" ] || fail "root watched text (schedule): $rt"
	[ "$rb" = "kwatch linux_banner err=22" ] || fail "root watched rodata (linux_banner): $rb"
	dmesg | grep 'breach kernel watch=kwatch' | head -2
	dmesg | grep -q 'breach kernel watch=kwatch ksym=jiffies_64' || fail "no dmesg line for the jiffies_64 breach"
	dmesg | grep 'watch=kwatch' | grep -q 'value=' && fail "a kernel watch's value went to dmesg"
else
	echo "kallsyms unavailable on this kernel: only the CAP_PERFMON checks ran"
fi
rmmod variable_monitor || fail "rmmod"
echo PASS
