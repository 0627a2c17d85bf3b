#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for a bounded time each, on the
# committed corpus (fuzz/corpus/<target>/) plus the regression inputs
# (fuzz/regressions/<target>/). Installs a nightly toolchain and cargo-fuzz
# when they are missing. A crash (or leak, timeout, out-of-memory) fails the
# run and prints the input in base64 and hex.
#
#   scripts/fuzz.sh [-t SECONDS] [TARGET...]   run each target SECONDS (300)
#   scripts/fuzz.sh --cmin [TARGET...]         minimize the corpora in place
#   npm run fuzz -- -t 3600 deflate_session
#
# New inputs a run finds are added to fuzz/corpus/<target>/; minimize with
# --cmin before committing them. Builds go to fuzz/target (not the
# workspace's target/), niced, and each target runs as one process.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
cmin=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t | --seconds)
      seconds="$2"
      shift 2
      ;;
    --cmin)
      cmin=1
      shift
      ;;
    -h | --help)
      sed -n '2,14p' "$0"
      exit 0
      ;;
    *)
      targets+=("$1")
      shift
      ;;
  esac
done
all=0
if [ ${#targets[@]} -eq 0 ]; then
  all=1
  targets=(parse_header inflate deflate_session)
fi

start=$SECONDS
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "== installing a nightly toolchain"
  nice -n 10 rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  nice -n 10 cargo install cargo-fuzz --locked
fi
rustup run nightly rustc --version
cargo +nightly fuzz --version
echo "(toolchain ready after $((SECONDS - start)) s)"

# -a: debug assertions and overflow checks on, besides AddressSanitizer.
build_start=$SECONDS
if [ "$all" = 1 ]; then
  nice -n 10 cargo +nightly fuzz build -a
else
  for target in "${targets[@]}"; do
    nice -n 10 cargo +nightly fuzz build -a "$target"
  done
fi
echo "(built in $((SECONDS - build_start)) s)"

if [ "$cmin" = 1 ]; then
  for target in "${targets[@]}"; do
    before=$(find "fuzz/corpus/$target" -type f | wc -l)
    # Edges only, not hit counts: one input per covered edge keeps the
    # committed corpora to a hundred or two small files each.
    nice -n 10 cargo +nightly fuzz cmin -a "$target" "fuzz/corpus/$target" -- -use_counters=0
    after=$(find "fuzz/corpus/$target" -type f | wc -l)
    echo "== $target: corpus $before -> $after inputs, $(du -sb --apparent-size "fuzz/corpus/$target" | cut -f1) bytes"
  done
  exit 0
fi

failed=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  regressions="fuzz/regressions/$target"
  artifacts="fuzz/artifacts/$target"
  mkdir -p "$corpus" "$regressions" "$artifacts"
  before=$(ls "$artifacts")
  echo "== fuzz $target for ${seconds} s ($(find "$corpus" "$regressions" -type f | wc -l) inputs to start from)"
  run_start=$SECONDS
  # The regressions directory comes second, so it is read but never written.
  if nice -n 10 cargo +nightly fuzz run -a "$target" "$corpus" "$regressions" -- \
    -max_total_time="$seconds" -timeout=60 -print_final_stats=1 2>&1 |
    grep --line-buffered -v -E '^#[0-9]+.*(NEW|REDUCE|pulse)|# Uses: '; then
    echo "== $target: clean after $((SECONDS - run_start)) s"
  else
    echo "== $target: FAILED after $((SECONDS - run_start)) s"
    failed+=("$target")
  fi
  for name in $(ls "$artifacts"); do
    if ! grep -qxF "$name" <<<"$before"; then
      file="$artifacts/$name"
      echo "-- failing input $file ($(wc -c <"$file") bytes), base64:"
      base64 -w 76 "$file"
      echo "-- hex:"
      od -A x -t x1z -v "$file"
    fi
  done
done

echo "(fuzzing took $((SECONDS - start)) s in all)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets failed: ${failed[*]}"
  exit 1
fi
