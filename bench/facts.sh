#!/usr/bin/env bash
# Benchmark: `pfctl facts` over 3 and 30 test nodes, cold (a new process and new SSH connections
# every run), next to parallel-ssh running one compound command that gathers the same facts.
# Also the resident agent's idle memory. Usage: bench/facts.sh [RUNS]   (default 5)
# Leaves the test cluster at 3 nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tc=tests/cluster/testcluster
dir=target/testcluster
cargo build --release -q -p pfctl -p pfagent
pfctl=target/release/pfctl
command -v parallel-ssh >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pssh >/dev/null

gather='hostname; grep PRETTY_NAME /etc/os-release; uname -r; cat /proc/sys/kernel/random/boot_id; nproc;
cat /proc/loadavg; grep -E "MemTotal|MemAvailable" /proc/meminfo; df -P / /var/lib/pfagent; date +%s%N;
docker version --format "{{.Server.Version}} {{.Server.APIVersion}}";
docker info --format "{{.DockerRootDir}} {{.ContainersRunning}} {{.Containers}} {{json .Swarm}}"'

# Median wall time in seconds of a command run $runs times.
median() {
  local times=() t0 t1
  for _ in $(seq "$runs"); do
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}

bench_size() {
  local n=$1
  $tc up "$n" >/dev/null
  local p s
  p=$(median "$pfctl" --inventory "$dir/inventory.toml" facts -o json)
  s=$(median parallel-ssh -h "$dir/nodes.txt" -p 32 -t 60 -x "-i $dir/id_ed25519 -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes" -i "$gather")
  printf '| %2d nodes | pfctl facts %5ss | parallel-ssh %5ss |\n' "$n" "$p" "$s"
}

command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null
echo "median of $runs cold runs, $(nproc) cores"
bench_size 3
bench_size 30
$tc up 3 >/dev/null
pid=$(cat "$dir/nodes/node1/state/pfagent.pid")
echo "resident pfagent idle RSS on node1: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/"$pid"/status)"
echo "release binary sizes: pfctl $(du -h "$pfctl" | cut -f1), pfagent $(du -h target/release/pfagent | cut -f1)"
