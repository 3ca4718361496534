# Self-test: a scenario that exits non-zero must be reported FAIL.
# vmon-expect: FAIL
echo "failing on purpose"
exit 3
