#!/usr/bin/env python3
"""Compares the frames that addr2line-style symbolizers print for the same
address list. Every input is in `addr2line -a -f -i` form: an address line
(0x...), then (function, file:line) pairs, innermost first. llvm-symbolizer
is run with --output-style=GNU so it prints the same.

Names are compared after removing Rust legacy hashes (`::h0123...`), which
some demanglers keep; files are compared by full path, lines exactly.

usage: compare_frames.py REFERENCE_NAME:FILE OTHER_NAME:FILE...
prints one line per other tool: addresses whose frame lists agree exactly
(names + file:line), agree on names, and the inline depth totals.
"""
import re
import sys

HASH = re.compile(r"::h[0-9a-f]{16}\b")


def parse(path):
    out = {}
    cur = None
    frames = []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [l.rstrip("\n") for l in f]
    i = 0
    while i < len(lines):
        l = lines[i]
        if re.fullmatch(r"0x[0-9a-fA-F]+", l):
            if cur is not None:
                out[cur] = frames
            cur, frames = int(l, 16), []
            i += 1
            continue
        if not l:
            i += 1
            continue
        func = HASH.sub("", l)
        loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
        # binutils appends " (discriminator N)"; llvm GNU style may print ":?"
        loc = re.sub(r" \(discriminator \d+\)$", "", loc).replace(":?", ":0")
        frames.append((func, loc))
        i += 2
    if cur is not None:
        out[cur] = frames
    return out


def main():
    ref_name, ref_path = sys.argv[1].split(":", 1)
    ref = parse(ref_path)
    depth = sum(len(v) for v in ref.values())
    inl = sum(1 for v in ref.values() if len(v) > 1)
    print(f"{ref_name}: {len(ref)} addresses, {depth} frames, {inl} addresses with inlined frames")
    for arg in sys.argv[2:]:
        name, path = arg.split(":", 1)
        other = parse(path)
        same = same_names = 0
        for a, fr in ref.items():
            o = other.get(a)
            if o == fr:
                same += 1
            if o is not None and [x[0] for x in o] == [x[0] for x in fr]:
                same_names += 1
        d = sum(len(v) for v in other.values())
        print(
            f"{name} vs {ref_name}: {len(other)} addresses, {d} frames; "
            f"identical frames+lines {same}/{len(ref)} ({100.0*same/max(1,len(ref)):.2f}%), "
            f"identical names {same_names}/{len(ref)} ({100.0*same_names/max(1,len(ref)):.2f}%)"
        )


main()
