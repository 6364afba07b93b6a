# Shared by the benchmarks: cold-run medians and the parallel-ssh baseline on the test cluster.
tc=tests/cluster/testcluster
dir=target/testcluster
pfctl=target/release/pfctl

bench_setup() {
  # Resizing the cluster would pull it from under running tests: hold their lock exclusively.
  mkdir -p "$dir"
  exec 9>"$dir/tests.lock"
  flock -x 9
  cargo build --release -q -p pfctl -p pfagent
  command -v parallel-ssh >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pssh >/dev/null
  command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null
}

# Median wall time in seconds of a command run $runs times.
median() {
  local times=() t0 t1
  for _ in $(seq "$runs"); do
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}

pssh_run() {
  parallel-ssh -h "$dir/nodes.txt" -p 32 -t 60 \
    -x "-i $dir/id_ed25519 -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes" \
    -i "$1"
}
