# Self-test: load and unload a module, check dmesg, write an artifact through the 9p
# share (run.sh --smoke checks it host-side), and check the guest environment that
# scenarios rely on.
set -eu
fail() { echo "FAIL: $*"; exit 1; }

# The timeout self-test's strays must be gone, and the harness leaves no sleepers.
if ps | grep -v grep | grep -q 'sleep 100[12]'; then
	fail "processes of the timed-out scenario survived"
fi
if ps | grep -v grep | grep -q 'sleep 277'; then
	fail "a watchdog's sleep survived its scenario"
fi

insmod "$VMON_KO" || fail "insmod $VMON_KO"
[ -d /sys/module/vmon_smoke ] || fail "/sys/module/vmon_smoke missing after insmod"
dmesg | grep -q "vmon_smoke: hello from $(uname -r) mode=0" || fail "no hello line in dmesg"
rmmod vmon_smoke || fail rmmod
dmesg | grep -q "vmon_smoke: goodbye" || fail "no goodbye line in dmesg"
[ ! -d /sys/module/vmon_smoke ] || fail "module still present after rmmod"

# Unprivileged user: runas and su both work, and module loading is refused.
[ "$(runas 1000 id -u)" = 1000 ] || fail "runas 1000 id -u"
[ "$(su vmon -c 'id -u')" = 1000 ] || fail "su vmon"
if runas 1000 insmod "$VMON_KO" 2>/dev/null; then fail "uid 1000 could insmod"; fi
[ -d /sys/module/vmon_smoke ] && fail "module loaded by uid 1000"
caps=$(runas -c perfmon 1000 sh -c 'grep CapEff /proc/self/status')
case "$caps" in *0000004000000000) ;; *) fail "runas -c perfmon gave $caps" ;; esac

# Environment scenarios use.
grep -q ' /sys/kernel/debug debugfs' /proc/mounts || fail "debugfs not mounted"
[ -e /sys/kernel/tracing/trace ] || [ -e /sys/kernel/debug/tracing/trace ] || fail "no tracefs"
grep -q ' /dev/hugepages hugetlbfs' /proc/mounts || fail "hugetlbfs not mounted"
total=$(awk '/HugePages_Total/ { print $2 }' /proc/meminfo)
[ "$total" -gt 0 ] || fail "no huge pages reserved (HugePages_Total=$total)"
# PREEMPT_RT kernels have no THP at all; elsewhere the cmdline turned it on.
thp=/sys/kernel/mm/transparent_hugepage/enabled
if [ -e $thp ]; then
	grep -q '\[always\]' $thp || fail "THP not always: $(cat $thp)"
else
	uname -v | grep -q PREEMPT_RT || fail "no THP on a non-RT kernel"
fi
[ -c /dev/null ] && [ -d /proc/self ] || fail "devtmpfs/proc"
[ -x "$VMON_BIN/runas" ] || fail "runas not in VMON_BIN"

# Artifacts: root and uid 1000 can both write into VMON_OUT.
echo "vmon-smoke $(uname -r)" >"$VMON_OUT/artifact.txt"
runas 1000 sh -c "echo unprivileged >'$VMON_OUT/user.txt'" || fail "uid 1000 cannot write VMON_OUT"
echo "smoke-2-basic ok on $VMON_KERNEL"
