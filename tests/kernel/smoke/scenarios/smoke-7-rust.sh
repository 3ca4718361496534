# Self-test: a static Rust binary runs in the guest. Only with run.sh --smoke --rust
# vmon-capture (the static build takes minutes the first time); skipped otherwise.
# vmon-expect: PASS
[ -x "$VMON_BIN/vmon-capture" ] || { echo "no vmon-capture in VMON_BIN"; exit 77; }
out=$("$VMON_BIN/vmon-capture" --help 2>&1) || { echo "$out"; echo "FAIL: vmon-capture --help"; exit 1; }
echo "$out" | head -n 5
