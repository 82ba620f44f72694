#!/bin/sh
# Run and minimise rsgi's fuzz targets (needs nightly and cargo-fuzz).
#
#   fuzz/fuzz.sh seeds                 seeds from the tests' corpora into fuzz/work/seeds*/
#   fuzz/fuzz.sh run TARGET [SECONDS]  fuzz (default 600 s); finds go to fuzz/work/TARGET/
#   fuzz/fuzz.sh cmin TARGET           minimise the committed corpus, the finds and our
#                                      seeds into fuzz/corpus/TARGET/ (cargo fuzz cmin,
#                                      then fuzz/cover.py)
#
# SANITIZER=none fuzz/fuzz.sh run ... builds without AddressSanitizer: the
# code under test is safe Rust, and the config target runs several times
# faster without it (overflow checks and debug assertions stay on).
#
# gunicorn's requests seed the runs but never enter fuzz/corpus (they are
# not ours to commit; see fuzz/seeds.py).
set -eu
cd "$(dirname "$0")/.."
what=${1:?usage: fuzz/fuzz.sh seeds | run TARGET [SECONDS] | cmin TARGET}

case $what in
seeds)
    exec python3 fuzz/seeds.py
    ;;
run)
    target=${2:?a target: cargo +nightly fuzz list}
    seconds=${3:-600}
    mkdir -p "fuzz/work/$target" "fuzz/corpus/$target"
    dirs="fuzz/work/$target fuzz/corpus/$target"
    for d in "fuzz/work/seeds/$target" "fuzz/work/seeds-gunicorn/$target"; do
        if [ -d "$d" ]; then dirs="$dirs $d"; fi
    done
    # shellcheck disable=SC2086 # the directories are separate arguments
    exec cargo +nightly fuzz run -O -s "${SANITIZER:-address}" "$target" $dirs -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1
    ;;
cmin)
    target=${2:?a target: cargo +nightly fuzz list}
    staging="fuzz/work/cmin-$target"
    rm -rf "$staging"
    mkdir -p "$staging"
    for d in "fuzz/work/$target" "fuzz/corpus/$target" "fuzz/work/seeds/$target"; do
        if [ -d "$d" ]; then find "$d" -type f -exec cp {} "$staging/" \;; fi
    done
    before=$(find "$staging" -type f | wc -l)
    cargo +nightly fuzz cmin -O "$target" "$staging" -- -rss_limit_mb=2048 -timeout=30
    merged=$(find "$staging" -type f | wc -l)
    # Then the fewest files that keep every edge (fuzz/cover.py).
    python3 fuzz/cover.py "fuzz/target/x86_64-unknown-linux-gnu/release/$target" "$staging" 400
    rm -rf "fuzz/corpus/$target"
    mv "$staging" "fuzz/corpus/$target"
    after=$(find "fuzz/corpus/$target" -type f | wc -l)
    size=$(du -sk "fuzz/corpus/$target" | cut -f1)
    echo "$target: $before inputs before cmin, $merged after it, $after after cover.py ($size KiB)"
    ;;
*)
    echo "usage: fuzz/fuzz.sh seeds | run TARGET [SECONDS] | cmin TARGET" >&2
    exit 2
    ;;
esac
