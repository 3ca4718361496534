#!/bin/sh
# Issue 11, finding 6: a remote watch registered while its target execs a
# setuid binary must not survive on the new, privileged image.  uid 1000
# registers watches on each of 200 children as fast as it can while each
# child execs a setuid-root program; afterwards none of those watches may
# be left (they end at exec, or are refused after it).
# vmon-timeout: 300
fail() { echo "FAIL: $*"; touch /tmp/hx; rmmod variable_monitor 2>/dev/null; exit 1; }
rm -f /tmp/hx
cp "$VMON_BIN/quota" /vmon/suid-quota
chown 0:0 /vmon/suid-quota
chmod 4755 /vmon/suid-quota
insmod "$VMON_KO" || fail "insmod"
runas 1000 "$VMON_BIN/execrace" ${VMON_EXECRACE_ITER:-200} /vmon/suid-quota /tmp/hx > /tmp/er.out 2>&1 &
er=$!
i=0
until grep -q '^done' /tmp/er.out || [ $i -ge 2400 ]; do sleep 0.1; i=$((i+1)); done
cat /tmp/er.out
grep -q '^done' /tmp/er.out || fail "execrace did not finish"
left=$(awk -v p="$er" '$4=="execrace" && $3 != 0 && $10 == 0' /proc/variable_monitor/watches | wc -l)
dead=$(awk '$4=="execrace" && $10 == 1' /proc/variable_monitor/watches | wc -l)
kids=$(grep -l suid-quota /proc/[0-9]*/cmdline 2>/dev/null | wc -l)
echo "live watches left on exec'd children: $left (dead, not yet reaped: $dead); setuid children alive: $kids"
awk '$4=="execrace"' /proc/variable_monitor/watches | head -5
touch /tmp/hx
wait $er
[ "$left" = 0 ] || fail "$left remote watches survived their target's exec of a setuid binary"
sleep 1
rmmod variable_monitor || fail "rmmod"
echo PASS
