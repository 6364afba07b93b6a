#!/usr/bin/env bash
# Benchmark: `pfctl backup create` of pfdemo_db's volume holding SIZE_MIB of random data (plus
# /etc/iservices), next to the plain pipeline `ssh node1 'tar -C DIR -c . | zstd' > file` on the
# same data, in one run; then `pfctl restore` against `zstd -dc file | ssh node1 'tar -x'`.
# Reports throughput (MiB/s of volume data) and pfctl's peak memory (max RSS).
# Usage: [SIZES="1024 4096"] bench/backup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
. bench/lib.sh
bench_setup
command -v zstd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd >/dev/null
# the nodes run the release agent, as in production (the tests' next `up` puts the debug one back)
export PFAGENT_BIN=$PWD/target/release/pfagent
$tc up 3 >/dev/null
tests/cluster/demo-stack reset >/dev/null
vol=$($tc exec node1 -- docker volume inspect pfdemo_dbdata --format '{{.Mountpoint}}')
out=$(mktemp -d /var/tmp/pfctl-bench.XXXXXX)
trap 'rm -rf "$out"; $tc exec node1 -- sh -c "rm -rf $vol/* ${vol}.pfctl-prev" >/dev/null 2>&1 || true' EXIT
inv=$out/inventory.toml
sed 's/^\[clusters.test\]$/[clusters.test]\nprofile = "demo"/' "$dir/inventory.toml" >"$inv"
chmod 600 "$inv"
ssh_node1="ssh -i $dir/id_ed25519 -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes isadmin@10.213.0.11"
# peak RSS in MiB of a command (GNU time), its output dropped
peak() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1/1024}'; }
command -v /usr/bin/time >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null

echo "median of $runs runs, $(nproc) cores"
for mib in ${SIZES:-1024 4096}; do
  $tc exec node1 -- sh -c "rm -rf $vol/* && head -c $((mib * 1048576)) /dev/urandom > $vol/blob.bin"
  pf=$(median sh -c "rm -f $out/b/*; $pfctl --inventory $inv backup create --from node1 --to $out/b -q")
  pipe=$(median sh -c "$ssh_node1 'sudo tar -C $vol -c . | zstd -q -3' > $out/pipe.tar.zst")
  rm -f "$out"/b/*
  mem=$(peak "$pfctl" --inventory "$inv" backup create --from node1 --to "$out/b" -q)
  file=$(ls "$out"/b/*.tar.zst)
  rs=$(median "$pfctl" --inventory "$inv" restore "$file" --yes -q)
  rmem=$(peak "$pfctl" --inventory "$inv" restore "$file" --yes -q)
  rpipe=$(median sh -c "zstd -dc $out/pipe.tar.zst | $ssh_node1 'sudo tar -C $vol -x'")
  printf '| %5d MiB | backup: pfctl %ss (%s MiB/s, peak %s MiB) | ssh+tar+zstd %ss (%s MiB/s) | ratio %s |\n' \
    "$mib" "$pf" "$(echo "$mib / $pf" | bc)" "$mem" "$pipe" "$(echo "$mib / $pipe" | bc)" "$(echo "scale=2; $pipe / $pf" | bc)"
  printf '| %5d MiB | restore: pfctl %ss (%s MiB/s, peak %s MiB) | zstd+ssh+tar %ss (%s MiB/s) |\n' \
    "$mib" "$rs" "$(echo "$mib / $rs" | bc)" "$rmem" "$rpipe" "$(echo "$mib / $rpipe" | bc)"
  $tc exec node1 -- sh -c "rm -rf ${vol}.pfctl-prev" >/dev/null
done
