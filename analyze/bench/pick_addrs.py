#!/usr/bin/env python3
"""Picks N distinct code addresses of an ELF file for the symbolizer
benchmark: uniformly over the bytes of its function symbols (`nm -S`), with
a fixed seed, so every run and every tool gets the same list.

usage: pick_addrs.py BINARY N SEED > addrs.txt
"""
import random
import subprocess
import sys


def main():
    binary, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = subprocess.run(
        ["nm", "-S", "--defined-only", binary], check=True, capture_output=True, text=True
    ).stdout
    ranges = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[2] not in ("t", "T", "W", "w"):
            continue
        start, size = int(parts[0], 16), int(parts[1], 16)
        if size > 0:
            ranges[start] = max(ranges.get(start, 0), size)
    spans = sorted(ranges.items())
    total = sum(s for _, s in spans)
    if total < n:
        sys.exit(f"{binary}: only {total} code bytes in function symbols, fewer than {n}")
    rng = random.Random(seed)
    picks = sorted(rng.sample(range(total), n))
    # Walk the spans once, turning byte ranks into addresses.
    addrs, i, base = [], 0, 0
    for p in picks:
        while p >= base + spans[i][1]:
            base += spans[i][1]
            i += 1
        addrs.append(spans[i][0] + (p - base))
    addrs = sorted(set(addrs))
    rng.shuffle(addrs)  # no tool gets a sorted list for free
    sys.stdout.write("".join(f"0x{a:x}\n" for a in addrs))
    print(f"picked {len(addrs)} addresses from {len(spans)} functions ({total} bytes)", file=sys.stderr)


main()
