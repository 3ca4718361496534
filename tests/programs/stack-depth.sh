#!/usr/bin/env bash
# How deep the test programs' stacks are: for every thread of each
# tests/programs program, run on this host, gdb's unwinder (CFI, with
# libc6-dbg) gives the frames from the sampled sp to the thread's root; prints
# "PROGRAM THREAD frames=N root=FN sp_to_root_sp=BYTES", the distance a raw
# user stack window must cover for the unwinder to reach the root (plus the
# root frame's return-address slot). Numbers for BENCHMARKS.md; run as root.
#   tests/programs/stack-depth.sh [OUTDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$(mktemp -d)}
command -v gdb >/dev/null || apt-get install -y -qq --no-install-recommends gdb >&2
make -s -C "$here" OUT="$out" >&2
cat >"$out/depth.py" <<'PY'
import gdb
gdb.execute("set backtrace past-main on")
for th in gdb.selected_inferior().threads():
    th.switch()
    f = gdb.newest_frame()
    sp0 = int(f.read_register("sp"))
    n, root = 0, None
    while f is not None:
        n, root = n + 1, f
        f = f.older()
    # gdb goes one frame past Go's top frames ("??"): report the last named one
    while root is not None and root.name() is None and root.newer() is not None:
        root, n = root.newer(), n - 1
    print("DEPTH %s frames=%d root=%s sp_to_root_sp=%d"
          % (th.name, n, root.name(), int(root.read_register("sp")) - sp0))
PY
for p in ustack_fp ustack_nofp ustack_cxx ustack_rs ustack_go; do
	"$out/$p" >"$out/$p.out" 2>&1 &
	pid=$!
	for _ in $(seq 300); do grep -q '^ready' "$out/$p.out" && break; sleep 0.1; done
	sleep 0.5
	gdb -batch -p "$pid" -x "$out/depth.py" 2>/dev/null | sed -n "s/^DEPTH /$p /p"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
done
