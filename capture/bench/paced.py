#!/usr/bin/env python3
"""Feeds a raw record stream to a FIFO one breach event at a time at a fixed
rate (default 1000 events per minute), so vmon-capture's CPU use can be
measured at the issue's "1,000 breaches per minute" operating point.
Usage: paced.py RAW FIFO EVENTS_PER_MIN SECONDS"""
import struct, sys, time

raw, fifo, per_min, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
b = open(raw, "rb").read()
# Split before every BREACH (type 2); the first chunk carries the HELLO.
cuts, off = [0], 0
while off + 32 <= len(b):
    _, typ, ln = struct.unpack_from("<HHI", b, off)
    if ln < 32:
        break
    if typ == 2 and off:
        cuts.append(off)
    off += ln
cuts.append(off)
period = 60.0 / per_min
n = int(seconds / period)
with open(fifo, "wb", buffering=0) as f:
    start = time.monotonic()
    for i in range(min(n, len(cuts) - 1)):
        f.write(b[cuts[i]:cuts[i + 1]])
        delay = start + (i + 1) * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
print(f"fed {min(n, len(cuts) - 1)} events in {time.monotonic() - start:.1f} s")
