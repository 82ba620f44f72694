#!/usr/bin/env python3
"""Shrink a corpus below libFuzzer's merge: the fewest files that keep
every edge it covers, picked greedily (the file that adds the most edges
first). libFuzzer's merge keeps every file that adds a feature in size
order, which leaves many small files where a few larger ones would do.

    python3 fuzz/cover.py BINARY DIR MAX

Runs BINARY (a cargo fuzz target) with -merge=1 -use_counters=0 over DIR
to learn each file's edges, then keeps in DIR only the chosen files, at
most MAX (past MAX, the edges the rest alone cover are reported lost).
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    binary, directory, most = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        control = os.path.join(tmp, "control")
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        subprocess.run(
            [binary, "-merge=1", "-use_counters=0", "-rss_limit_mb=2048",
             f"-merge_control_file={control}", out, directory],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(control) as f:
            lines = f.read().splitlines()
    count = int(lines[0])
    files = lines[2:2 + count]
    edges = {}
    for line in lines[2 + count:]:
        if line.startswith("COV "):
            _, index, *cov = line.split()
            edges[int(index)] = set(map(int, cov))
    size = {i: os.path.getsize(files[i]) for i in edges}
    left = set().union(*edges.values())
    total = len(left)
    chosen = []
    while left and len(chosen) < most:
        best = max(edges, key=lambda i: (len(edges[i] & left), -size[i]))
        if not edges[best] & left:
            break
        chosen.append(best)
        left -= edges[best]
    keep = {os.path.basename(files[i]) for i in chosen}
    for name in os.listdir(directory):
        if name not in keep:
            os.remove(os.path.join(directory, name))
    print(f"{directory}: {len(keep)} files keep {total - len(left)} of {total} edges"
          + (f" ({len(left)} lost to the limit of {most})" if left else ""))


if __name__ == "__main__":
    main()
