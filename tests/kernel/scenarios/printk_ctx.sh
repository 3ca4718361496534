#!/bin/sh
# Issue 11 (L2): the dmesg breach line is never printed from the timer (hard
# irq for privileged watches, softirq for unprivileged ones): a kprobe on
# vprintk_emit records the context of every breach line, and none may be in
# hard or soft irq.  Lines are rate limited per class: uid 1000 flooding
# breach edges first must not use up the lines of root's watch.
# vmon-timeout: 180
fail() { echo "FAIL: $*"; echo 0 > $T/events/kprobes/enable 2>/dev/null; echo > $T/kprobe_events 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }
T=/sys/kernel/tracing
[ -w $T/kprobe_events ] || { echo "no kprobe_events"; exit 77; }
insmod "$VMON_KO" || fail "insmod"
echo 'p:vmon_printk vprintk_emit fmt=+0($arg4):string' >> $T/kprobe_events || { rmmod variable_monitor; echo "kprobe on vprintk_emit refused"; exit 77; }
echo > $T/trace
echo 1 > $T/events/kprobes/vmon_printk/enable
echo 1 > $T/tracing_on
# uid 1000 floods edges (2 ms toggles) from t=0; root's watch toggles from t=1.5 s
t0=$(cut -d' ' -f1 /proc/uptime)
runas 1000 "$VMON_BIN/vmtest" toggle 3000 > /tmp/pc.u 2>&1 &
u=$!
sleep 1.5
"$VMON_BIN/vmtest" toggle 1000 > /tmp/pc.r 2>&1 &
r=$!
wait $u || fail "uid 1000 toggle: $(cat /tmp/pc.u)"
t1=$(cut -d' ' -f1 /proc/uptime)
wait $r || fail "root toggle: $(cat /tmp/pc.r)"
sleep 0.5
echo 0 > $T/events/kprobes/vmon_printk/enable
grep 'breach pid=' $T/trace > /tmp/pc.trace
echo > $T/kprobe_events
n=$(wc -l < /tmp/pc.trace)
echo "breach lines seen by the kprobe: $n; lines_suppressed $(stat_of lines_suppressed); breaches $(stat_of breaches)"
head -3 /tmp/pc.trace
[ "$n" -gt 0 ] || fail "no breach line reached vprintk_emit"
# the flags field follows [CPU]; its 3rd character is h/H (hard irq), s (softirq), z/Z (NMI) or .
bad=$(awk '{for (i = 1; i < NF; i++) if ($i ~ /^\[[0-9]+\]$/) { c = substr($(i+1), 3, 1); if (c != ".") print; break }}' /tmp/pc.trace | wc -l)
if [ "$bad" -gt 0 ]; then
	awk '{for (i = 1; i < NF; i++) if ($i ~ /^\[[0-9]+\]$/) { c = substr($(i+1), 3, 1); if (c != ".") print; break }}' /tmp/pc.trace | head -5
	fail "$bad of $n breach lines were printed in interrupt context"
fi
dmesg | grep 'breach pid=' > /tmp/pc.dmesg
ul=$(grep -c "breach pid=$u " /tmp/pc.dmesg)
rl=$(grep -c "breach pid=$r " /tmp/pc.dmesg)
# its share: a burst of 5, then 1 a second (TCG stretches the 3 s toggle)
umax=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", 5 + (b - a) + 2}')
echo "dmesg lines: uid 1000's watch $ul (at most $umax in its $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s), root's watch $rl"
[ "$rl" -gt 0 ] || fail "uid 1000's flood used up root's breach lines"
[ "$ul" -le "$umax" ] || fail "uid 1000 got $ul lines, more than its share ($umax)"
[ "$(stat_of lines_suppressed)" -gt 0 ] || fail "lines_suppressed did not count the flood"
rmmod variable_monitor || fail "rmmod"
echo PASS
