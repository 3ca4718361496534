# Self-test: a kernel panic ends QEMU; the host must report this scenario as CRASH and
# still print its summary. Runs last.
# vmon-expect: CRASH
insmod "$VMON_KO" mode=2
sleep 30
