#!/usr/bin/env bash
# Builds burrow-fuzz with libFuzzer and AddressSanitizer, and fuzzes targets, two at a time.
#
#   FuzzTesting/run.sh                   every target for 5 minutes
#   FuzzTesting/run.sh 60 frames config  those targets for 60 s each
#
# Each target's corpus lives in FuzzTesting/corpus/TARGET (seeded with valid inputs, kept out of
# git); crashes are written to FuzzTesting/crashes/TARGET/ and listed at the end.
# FUZZ_FLAGS_<target> (dashes as underscores) adds libFuzzer flags for one target, e.g.
# FUZZ_FLAGS_config=-max_len=65536 to try longer config files. (libFuzzer's -fork mode
# does not work here: its children are started without the target's name.)
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-300}
shift || true

echo "building burrow-fuzz (a full sanitizer build: 15 minutes or more the first time)..." >&2
swift build -c release --product burrow-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing >&2
fuzz="$(swift build -c release --show-bin-path)/burrow-fuzz"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <("$fuzz" 2>&1 | sed -n 's/^targets: //p' | tr ',' '\n' | tr -d ' ')
fi

run() {
  local target=$1
  mkdir -p "corpus/$target" "crashes/$target"
  local flags_variable="FUZZ_FLAGS_${target//-/_}"
  local -a extra=(${!flags_variable:-})
  "$fuzz" "$target" --write-seeds "corpus/$target"
  # libFuzzer stops at the first crash: start it again (same corpus) until the time is up, so
  # one known fault does not end the search. The Swift backtracer can hang under ASan:
  # libFuzzer's own report is enough.
  local end=$((SECONDS + seconds)) runs=0 starts=0
  while [ $SECONDS -lt $end ]; do
    starts=$((starts + 1))
    SWIFT_BACKTRACE=enable=no "$fuzz" "$target" -max_total_time=$((end - SECONDS)) -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="crashes/$target/" -print_final_stats=1 "${extra[@]}" "corpus/$target" > "crashes/$target-$starts.log" 2>&1 || true
    runs=$((runs + $(grep -E '^stat::number_of_executed_units' "crashes/$target-$starts.log" | awk '{s+=$2} END {print s+0}')))
  done
  echo "$target: $runs runs, $starts start(s), $(ls "corpus/$target" | wc -l) corpus inputs," \
    "$(ls "crashes/$target" | wc -l) crash or leak inputs"
}

# Two at a time: one per core.
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  [ $((i + 1)) -lt ${#targets[@]} ] && run "${targets[i + 1]}" &
  wait
done
