#!/usr/bin/env bash
# Benchmark: `pfctl facts` over 3 and 30 test nodes, cold (a new process and new SSH connections
# every run), next to parallel-ssh running one compound command that gathers the same facts.
# Also the resident agent's idle memory. Usage: bench/facts.sh [RUNS]   (default 5)
# Leaves the test cluster at 3 nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. bench/lib.sh
bench_setup

gather='hostname; grep PRETTY_NAME /etc/os-release; uname -r; cat /proc/sys/kernel/random/boot_id; nproc;
cat /proc/loadavg; grep -E "MemTotal|MemAvailable" /proc/meminfo; df -P / /var/lib/pfagent; date +%s%N;
docker version --format "{{.Server.Version}} {{.Server.APIVersion}}";
docker info --format "{{.DockerRootDir}} {{.ContainersRunning}} {{.Containers}} {{json .Swarm}}"'

echo "median of $runs cold runs, $(nproc) cores"
for n in 3 30; do
  $tc up "$n" >/dev/null
  p=$(median "$pfctl" --inventory "$dir/inventory.toml" facts -o json)
  s=$(median pssh_run "$gather")
  printf '| %2d nodes | pfctl facts %ss | parallel-ssh %ss |\n' "$n" "$p" "$s"
done
$tc up 3 >/dev/null
pid=$(cat "$dir/nodes/node1/state/pfagent.pid")
echo "resident pfagent idle RSS on node1: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/"$pid"/status)"
echo "release binaries: pfctl $(du -h "$pfctl" | cut -f1), pfagent $(du -h target/release/pfagent | cut -f1)"
