#!/bin/sh
# Issue 11 (L8): a mapped file whose path d_path() cannot give (longer than
# PATH_MAX) is reported by its last component with VMON_MAP_PATH_TRUNC, not
# as an empty path without a flag.
# vmon-timeout: 120
fail() { echo "FAIL: $*"; rm -rf /tmp/dddd* 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
insmod "$VMON_KO" || fail "insmod"
"$VMON_BIN/vmon_read" drain -o /tmp/pt.raw -t 30 -i 3 -e 1 > /dev/null &
rd=$!
sleep 0.5
"$VMON_BIN/lowfix" longpath > /tmp/pt.out || fail "lowfix longpath: $(cat /tmp/pt.out)"
cat /tmp/pt.out
wait $rd || fail "reader"
"$VMON_BIN/vmon_read" parse /tmp/pt.raw > /tmp/pt.txt || fail "malformed stream"
pid=$(sed -n 's/^BREACH .* target=\([0-9]*\) .*/\1/p' /tmp/pt.txt | head -1)
grep "^MAPS .*tgid=$pid " /tmp/pt.txt | tr ' ' '\n' | grep -E 'lp.bin|:$|TRUNC' | head
grep "^MAPS .*tgid=$pid " /tmp/pt.txt | grep -q ':lp.bin\[PATH_TRUNC\]' || fail "the long path is not reported as lp.bin with PATH_TRUNC"
rm -rf /tmp/dddd* 2>/dev/null
rmmod variable_monitor || fail "rmmod"
echo PASS
