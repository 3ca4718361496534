#!/usr/bin/env python3
"""Where the bytes of a .vmt go, by chunk type (formats/SPEC.md §2.2: a
28-byte header then stored_len payload bytes, in a linear scan from offset
16), and what a task sample costs without the capture's fixed part.

usage: vmt_sizes.py FILE.vmt TASK_SAMPLES
Prints one line: total, per type, and
  per_sample = (SAMPLES[2] + STACKS + RAW_STACKS + BREACHES + PROCESSES) / samples
(what grows with the samples; the kernel symbol table, the binaries' symbol
tables and the strings, almost all symbol names, are paid once per capture)
and samples_only = SAMPLES and SAMPLES2 chunks / samples (SAMPLES2: format 1.2).
"""
import struct
import sys

NAMES = {1: "META", 2: "STRINGS", 3: "KSYMS", 4: "WATCHES", 5: "BREACHES", 6: "STACKS",
         7: "SAMPLES", 8: "RAW_STACKS", 9: "PROCESSES", 10: "SYMTABS", 11: "LOSSES", 12: "SAMPLES2",
         15: "INDEX"}
PER_SAMPLE = ("SAMPLES", "SAMPLES2", "STACKS", "RAW_STACKS", "BREACHES", "PROCESSES")


def main():
    path, samples = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()
    by = {}
    off = 16
    while off + 28 <= len(data) and data[off:off + 4] == b"VMTC":
        typ, _flags, stored = struct.unpack_from("<HHI", data, off + 4)
        name = NAMES.get(typ, f"type{typ}")
        by[name] = by.get(name, 0) + 28 + stored
        off += 28 + stored
    per = sum(by.get(n, 0) for n in PER_SAMPLE) / samples if samples else float("nan")
    only = (by.get("SAMPLES", 0) + by.get("SAMPLES2", 0)) / samples if samples else float("nan")
    parts = " ".join(f"{k}={v}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]))
    print(f"{len(data)} B, {samples} task samples, per_sample {per:.1f} B, samples_only {only:.1f} B ({parts})")


if __name__ == "__main__":
    main()
