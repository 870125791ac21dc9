#!/usr/bin/env bash
# Regenerates every figure and table of docs/bench/sim.md and
# docs/bench/network.md: builds tangled, runs each seeded command, copies
# the plots, summaries and sweep tables into docs/bench/<name>/, and writes
# what each command printed (without its wall-clock line) to
# docs/bench/<name>/output.txt, which is what the documents quote. Every
# file it writes is the same on any machine; only how long it takes
# differs (about an hour on the project's 2-core machine; FIGURES=NAME,...
# regenerates only some). The exception is docs/bench/speed/output.txt,
# the speed table: wall times and memory of this machine, medians of 3
# runs made one after the other in one session.
#
#   docs/bench/figures.sh             # all
#   FIGURES=network-nodes docs/bench/figures.sh
#   FIGURES=speed docs/bench/figures.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
docs=docs/bench
bin=$(mktemp -d)/tangled
go build -o "$bin" ./cmd/tangled
scratch=$(mktemp -d)
trap 'rm -rf "$scratch" "$(dirname "$bin")"' EXIT

want() { [ -z "${FIGURES:-}" ] || [[ ",$FIGURES," == *",$1,"* ]]; }

# figure NAME FILES -- ARGS...: runs `tangled bench sim ARGS --out DIR`,
# keeps the named files of DIR (globs relative to it) in docs/bench/NAME.
figure() {
  local name=$1; shift
  local files=()
  while [ "$1" != "--" ]; do files+=("$1"); shift; done
  shift
  want "$name" || return 0
  echo "== $name: tangled bench sim $*" >&2
  local out=$scratch/$name
  rm -rf "$out" "${docs:?}/$name"
  mkdir -p "$docs/$name"
  {
    echo "\$ tangled bench sim $*"
    "$bin" bench sim "$@" --out "$out" | grep -v '^wall time'
  } > "$docs/$name/output.txt"
  (cd "$out" && for f in "${files[@]}"; do
    for g in $f; do mkdir -p "$OLDPWD/$docs/$name/$(dirname "$g")"; cp "$g" "$OLDPWD/$docs/$name/$g"; done
  done)
}

# table NAME -- ARGS...: a command whose printed table is the figure.
table() {
  local name=$1; shift 2
  want "$name" || return 0
  echo "== $name: tangled bench sim $*" >&2
  mkdir -p "$docs/$name"
  {
    echo "\$ tangled bench sim $*"
    "$bin" bench sim "$@" | grep -v '^wall time'
  } > "$docs/$name/output.txt"
}

# The single view (docs/bench/sim.md).
figure urts 'summary.json' '*.png' '*.svg' -- \
  --lambda 50 --delay 2 --count 1000000 --seed 1 --sample-every 10
figure mcmc 'sweep.csv' 'alpha=*/summary.json' 'alpha=*/tips.png' 'alpha=*/tips.svg' -- \
  --lambda 50 --delay 2 --count 100000 --seed 1 --tipsel mcmc --sweep alpha=0,0.001,0.01,0.03,0.1 --sample-every 10
table lambda -- --delay 1 --count 200000 --seed 1 --sweep lambda=1,2,5,10,20,100
table parents -- --lambda 50 --delay 2 --count 400000 --seed 1 --sweep parents=2,3,4,8 --engine model
table discrete -- --lambda 50 --delay 2 --count 200000 --seed 1 --model discrete
table tip-expiry -- --lambda 50 --delay 2 --count 200000 --seed 1 --sweep tip-expiry=3,4,6,10
table draw -- --lambda 2 --delay 1 --count 200000 --seed 1 --draw replacement --sweep lambda=1,2,5,100

# The walk's start rule at α = 0, λh = 10 (issue 15): the age rule's
# orphans and creeping tip count, the cover rule, the genesis start.
for start in cover age genesis; do
  figure "walk-start-$start" 'summary.json' 'tips.png' 'tips.svg' -- \
    --lambda 10 --delay 1 --count 50000 --seed 1 --tipsel mcmc --start "$start" --sample-every 10
done

# The network model (docs/bench/network.md): N nodes, a random 8-regular
# graph, links of 50-150 ms, confirmation at θ = 0.67 judged per node.
net=(--lambda 50 --latency uniform:0.05,0.15 --topology regular:8 --confirm aw:0.67 --seed 1)
figure network-nodes 'sweep.*' 'nodes=*/summary.json' -- \
  "${net[@]}" --count 20000 --sweep nodes=10,100,1000
figure network-latency 'sweep.*' 'latency=*/summary.json' -- \
  --lambda 50 --topology regular:8 --confirm aw:0.67 --seed 1 --nodes 100 --count 20000 --sweep latency=0.025,0.05,0.1,0.2,0.4
figure network-theta 'sweep.*' 'theta=*/summary.json' -- \
  "${net[@]}" --nodes 100 --count 20000 --sweep theta=0.5,0.6,0.67,0.75,0.9
figure network-zipf 'sweep.*' 'weights=*/summary.json' -- \
  "${net[@]}" --nodes 100 --count 20000 --sweep weights=uniform,zipf:0.5,zipf:1,zipf:1.5,zipf:2
figure network-loss 'sweep.*' 'loss=*/summary.json' -- \
  "${net[@]}" --nodes 100 --count 20000 --sweep loss=0,0.1,0.3

# The speed table (docs/bench/sim.md, "Speed and memory"). The peer's
# figures are issue 15's, measured by its author on this machine with
# IOTA's res-sim-tangle (its loop alone, without writing files); they are
# not rerun here (the peer is built outside the repository). Each row:
# three runs of one command, their wall times (the whole process) and the
# median; the ratio is the peer's time over the median.
peer_urts=1.44        # URTS, λ = 100, h = 1, 200,000 tx (loop alone)
peer_walk0=13.3       # random walk from the genesis, exact weights, α = 0, λ = 10, h = 1, 50,000 tx
peer_walk01="29 37"   # the same at α = 0.1 (a range: the issue gives 29–37 s)
speed_row() { # speed_row PEER_SECONDS... -- ARGS...
  local peers=()
  while [ "$1" != "--" ]; do peers+=("$1"); shift; done
  shift
  local runs=() t0 t1
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    "$bin" bench sim "$@" --json > /dev/null
    t1=$(date +%s%N)
    runs+=("$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1e9 }')")
  done
  local med
  med=$(printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p)
  echo "\$ tangled bench sim $*"
  printf '  runs %s s, median %s s' "${runs[*]}" "$med"
  local p sep=', the peer / median:'
  for p in "${peers[@]}"; do
    awk -v p="$p" -v m="$med" -v sep="$sep" 'BEGIN { printf "%s %s s / %s s = %.1f×", sep, p, m, p / m }'
    sep=','
  done
  echo
}
# rss_row ARGS...: the growth of the peak RSS per transaction between
# 100,000 and 400,000 transactions (one run each).
rss_row() {
  local rss=()
  for n in 100000 400000; do
    /usr/bin/time -f %M -o "$scratch/rss" "$bin" bench sim "$@" --count "$n" --json > /dev/null
    rss+=("$(cat "$scratch/rss")")
  done
  echo "\$ tangled bench sim $* --count 100000|400000"
  awk -v a="${rss[0]}" -v b="${rss[1]}" 'BEGIN { printf "  peak RSS %d KiB, %d KiB: %.0f B per transaction\n", a, b, (b - a) * 1024 / 300000 }'
}
if want speed; then
  echo "== speed" >&2
  mkdir -p "$docs/speed"
  walk=(--lambda 10 --delay 1 --count 50000 --seed 1 --tipsel mcmc)
  {
    echo "# wall time, medians of 3 ($(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg) at the start)"
    speed_row "$peer_walk0" -- "${walk[@]}" --start genesis --engine model --alpha 0
    speed_row $peer_walk01 -- "${walk[@]}" --start genesis --engine model --alpha 0.1
    speed_row -- "${walk[@]}" --start cover --engine model
    speed_row "$peer_urts" -- --lambda 100 --delay 1 --count 200000 --seed 1 --engine model
    speed_row "$peer_urts" -- --lambda 100 --delay 1 --count 200000 --seed 1 --engine dag
    echo "# memory"
    rss_row --lambda 10 --delay 1 --seed 1 --tipsel mcmc --start genesis --engine model --alpha 0
    rss_row --lambda 10 --delay 1 --seed 1 --tipsel mcmc --start genesis --engine model --alpha 0.1
    rss_row --lambda 50 --delay 2 --seed 1 --engine model
  } > "$docs/speed/output.txt"
fi

# Quote each output.txt in the documents, between
# <!-- output:NAME --> and <!-- /output --> markers.
for md in "$docs/sim.md" "$docs/network.md"; do
  [ -f "$md" ] || continue
  awk -v docs="$docs" '
    /^<!-- output:[^ ]* -->$/ {
      print; name = $2; sub(/^output:/, "", name)
      print "```"
      file = docs "/" name "/output.txt"
      while ((getline line < file) > 0) print line
      close(file)
      print "```"
      skip = 1; next
    }
    /^<!-- \/output -->$/ { skip = 0 }
    !skip { print }
  ' "$md" > "$md.new" && mv "$md.new" "$md"
done
