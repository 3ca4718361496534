# Self-test: a scenario that exits 0 but leaves a WARN in dmesg must be reported FAIL,
# and the module it left loaded must be removed by the harness.
# vmon-expect: FAIL
insmod "$VMON_KO" mode=1
