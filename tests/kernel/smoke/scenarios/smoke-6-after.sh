# Self-test: the harness removed the module smoke-5-warn left loaded, and a clean
# scenario after a splat passes (the splat detector looks only at new kernel lines).
set -eu
[ ! -d /sys/module/vmon_smoke ] || { echo "FAIL: vmon_smoke still loaded"; exit 1; }
insmod "$VMON_KO"
rmmod vmon_smoke
