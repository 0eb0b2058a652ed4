#!/usr/bin/env python3
"""Runs two commands alternately and compares them (used by bench/peers.sh).

  alternate.py time N A_JSON B_JSON
      wall time of each run of A and of B, A and B alternated N times after
      one unmeasured run of each; prints one line:
      "<median A ms> <median B ms> <median of the per-pair ratios A/B>"
  alternate.py rate N A_JSON B_JSON A_REGEX B_REGEX
      the same for throughput: each command prints its rate, found by the
      regular expression's first group; prints
      "<median A> <median B> <median of the per-pair ratios A/B>"

A_JSON and B_JSON are JSON arrays of arguments. A command that fails stops
the run with its output on stderr.
"""
import json
import re
import statistics
import subprocess
import sys
import time


def run(argv):
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        sys.stderr.write("alternate.py: %s failed (exit %d):\n%s\n" % (
            " ".join(argv), done.returncode, done.stdout.decode(errors="replace")))
        sys.exit(1)
    return elapsed, done.stdout.decode(errors="replace")


def rate(out, pattern, argv):
    m = re.search(pattern, out)
    if not m:
        sys.stderr.write("alternate.py: no rate /%s/ in the output of %s:\n%s\n" % (
            pattern, " ".join(argv), out))
        sys.exit(1)
    return float(m.group(1))


def main():
    mode, n, a, b = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
    xs, ys = [], []
    if mode == "time":
        run(a)
        run(b)
        for _ in range(n):
            xs.append(run(a)[0])
            ys.append(run(b)[0])
    elif mode == "rate":
        pa, pb = sys.argv[5], sys.argv[6]
        for _ in range(n):
            xs.append(rate(run(a)[1], pa, a))
            ys.append(rate(run(b)[1], pb, b))
    else:
        sys.exit("usage: alternate.py time|rate N A_JSON B_JSON [A_REGEX B_REGEX]")
    ratios = [x / y for x, y in zip(xs, ys) if y]
    print("%.3f %.3f %.3f" % (statistics.median(xs), statistics.median(ys), statistics.median(ratios)))
    sys.stderr.write("  A: %s\n  B: %s\n" % (" ".join("%.2f" % x for x in xs), " ".join("%.2f" % y for y in ys)))


if __name__ == "__main__":
    main()
