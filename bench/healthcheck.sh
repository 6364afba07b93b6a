#!/usr/bin/env bash
# Benchmark: the full `pfctl healthcheck` (demo profile) over 3 and 30 test nodes, cold, next to
# parallel-ssh running one compound command that gathers the raw facts the checks need (engine
# info, all containers, swarm nodes and services, df, free, file hashes, peer ports).
# Prints pfctl's per-collector times (slowest node) too. Usage: [BENCH_NODES="3 30"] bench/healthcheck.sh [RUNS]
# Leaves the test cluster at 3 nodes with the demo stack up.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. bench/lib.sh
bench_setup
tests/cluster/demo-stack up >/dev/null

gather='docker info --format "{{json .}}" >/dev/null; docker ps -a --format "{{json .}}";
docker node ls 2>/dev/null; docker service ls 2>/dev/null; df -P / /var/lib/docker /var/lib/pfagent; free -m;
cat /proc/loadavg; sha256sum /etc/iservices/isconfig.yml /etc/iservices/encryption_key 2>/dev/null;
stat -c "%a %U %n" /etc/iservices/encryption_key 2>/dev/null;
for h in 10.213.0.11 10.213.0.12 10.213.0.13; do for p in 2377 7946; do timeout 2 bash -c "</dev/tcp/$h/$p" 2>/dev/null && echo "$h:$p ok"; done; done'

echo "median of $runs cold runs, $(nproc) cores"
for n in ${BENCH_NODES:-3 30}; do
  $tc up "$n" >/dev/null
  p=$(median "$pfctl" --inventory "$dir/inventory.toml" healthcheck --profile demo -o json)
  s=$(median pssh_run "$gather")
  printf '| %2d nodes | pfctl healthcheck %ss | parallel-ssh %ss |\n' "$n" "$p" "$s"
  "$pfctl" --inventory "$dir/inventory.toml" healthcheck --profile demo -o json 2>/dev/null |
    python3 -c 'import json,sys
d=json.load(sys.stdin); t={}
for n in d["nodes"]:
    for k,v in (n.get("timings_ms") or {}).items(): t[k]=max(t.get(k,0),v)
print("   slowest node per collector (ms):", ", ".join(f"{k} {v}" for k,v in sorted(t.items(), key=lambda x:-x[1])))'
done
$tc up 3 >/dev/null
