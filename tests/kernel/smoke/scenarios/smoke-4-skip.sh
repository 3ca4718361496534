# Self-test: exit 77 means SKIP (e.g. a feature this kernel lacks).
# vmon-expect: SKIP
echo "skipping on purpose"
exit 77
