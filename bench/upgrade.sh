#!/usr/bin/env bash
# Benchmark: upgrading a stack shaped like the demo (web: 3 replicas behind haproxy, one per node;
# db: 1; worker: 2) from pfdemo/busybox:1 to :2, two ways, in one run:
#   manual: `docker stack deploy` with the new tags on the leader, until Swarm reports every update
#           complete and every task running (images loaded on the nodes beforehand);
#   pfctl:  `pfctl upgrade apply --images BUNDLE --yes`: healthcheck gate, bundle checked and
#           loaded on every node, group by group with a health gate after each, final verify.
# Both with a client asking haproxy (the generated configuration) for the web page all along:
# wall time and failed requests. The stack is `pfbench`, deployed by `docker stack deploy`;
# removed at the end.
# Usage: bench/upgrade.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup
command -v curl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
$tc up 3 >/dev/null
tests/cluster/demo-stack up >/dev/null
out=$(mktemp -d /var/tmp/pfctl-bench.XXXXXX)
d() { $tc exec node1 -- docker "$@"; }
cleanup() {
  [ -n "${hap:-}" ] && kill "$hap" 2>/dev/null || true
  d stack rm pfbench >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT
export DOCKER_CLI_HINTS=false

inv=$out/inventory.toml
sed 's/^\[clusters.test\]$/[clusters.test]\nprofile = "demo"/' "$dir/inventory.toml" >"$inv"
chmod 600 "$inv"
# The demo profile, for the pfbench stack (its groups and update policy are the demo's).
sed 's/^stack = "pfdemo"$/stack = "pfbench"/' profiles/demo.toml >"$out/bench.toml"

compose() { # TAG: the stack at that image tag
  cat <<EOF
version: "3.8"
services:
  web:
    image: pfdemo/busybox:$1
    command: ["sh", "-c", "mkdir -p /www && echo pfdemo web on \$\$HOSTNAME > /www/index.html && exec httpd -f -p 8090 -h /www"]
    ports:
      - { target: 8090, published: 8090, protocol: tcp, mode: host }
    stop_grace_period: 1s
    deploy:
      replicas: 3
      endpoint_mode: dnsrr
      placement: { max_replicas_per_node: 1 }
  db:
    image: pfdemo/busybox:$1
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    deploy: { replicas: 1, endpoint_mode: dnsrr }
  worker:
    image: pfdemo/busybox:$1
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    deploy: { replicas: 2, endpoint_mode: dnsrr }
EOF
}

# The v2 image, built on node1 and saved: the offline bundle.
$tc exec node1 -- sh -c 'printf "FROM pfdemo/busybox:1\nRUN echo 2 > /VERSION\n" | DOCKER_BUILDKIT=0 docker build -q -t pfdemo/busybox:2 - >/dev/null && docker save pfdemo/busybox:2' >"$out/v2.tar"

# Until every pfbench service runs TAG on all its tasks and no update is in progress.
converged() { # TAG
  local s
  for s in pfbench_web pfbench_db pfbench_worker; do
    d service inspect "$s" --format '{{.Spec.TaskTemplate.ContainerSpec.Image}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' |
      grep -Eq "^pfdemo/busybox:$1(@[^ ]*)? ?(completed)?$" || return 1
  done
  ! d service ls --filter name=pfbench_ --format '{{.Replicas}}' | awk '{split($1, r, "/"); if (r[1] != r[2]) bad=1} END {exit !bad}'
}
wait_converged() { # TAG
  local t=$((SECONDS + 300))
  until converged "$1" && sleep 1 && converged "$1"; do
    [ $SECONDS -lt $t ] || { echo "pfbench did not converge on :$1" >&2; exit 1; }
    sleep 0.3
  done
}

deploy() { # TAG
  compose "$1" | $tc exec node1 -- docker stack deploy --resolve-image never -c - pfbench >/dev/null
}

# haproxy in front of port 8090 on the three nodes, on a free local port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$pfctl --inventory "$inv" haproxy-config --profile demo |
  sed -e "s/bind \*:8080/bind 127.0.0.1:$port/" -e 's/:8080 check/:8090 check/' -e '/log \/dev\/log/d' >"$out/haproxy.cfg"
haproxy -db -f "$out/haproxy.cfg" >/dev/null 2>&1 &
hap=$!

probe_start() { # LOG
  (while :; do curl -s -m 5 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/index.html" >>"$1" || echo fail >>"$1"; done) &
  probe=$!
}
probe_stop() { # LOG -> "answered failed"
  kill "$probe" 2>/dev/null; wait "$probe" 2>/dev/null || true
  awk '$1 == 200 {ok++} $1 != 200 {bad++} END {printf "%d %d", ok, bad}' "$1"
}
elapsed() { echo "$(date +%s.%N) - $1" | bc -l | xargs printf '%.1f'; }

# The images on every node first, as the manual procedure has them loaded by hand.
for n in node1 node2 node3; do $tc exec "$n" -- docker load -q <"$out/v2.tar" >/dev/null; done

# A stack left by an earlier run goes first, network included (a deploy racing its removal fails).
d stack rm pfbench >/dev/null 2>&1 || true
until [ -z "$(d network ls -q --filter name=pfbench_)" ]; do sleep 0.5; done
deploy 1; wait_converged 1
probe_start "$out/manual.log"; sleep 1
t0=$(date +%s.%N)
deploy 2; wait_converged 2
manual=$(elapsed "$t0")
read -r m_ok m_bad <<<"$(probe_stop "$out/manual.log")"

deploy 1; wait_converged 1
probe_start "$out/pfctl.log"; sleep 1
t0=$(date +%s.%N)
$pfctl --inventory "$inv" upgrade apply --images "$out/v2.tar" --profile "$out/bench.toml" --yes --allow-warn --skip-backup >"$out/pfctl.out" 2>&1 ||
  { cat "$out/pfctl.out" >&2; exit 1; }
pf=$(elapsed "$t0")
read -r p_ok p_bad <<<"$(probe_stop "$out/pfctl.log")"

echo "upgrade of 3 services (web 3 replicas, db 1, worker 2), $(nproc) cores, one run:"
printf '| manual: docker stack deploy | %ss | %s requests answered, %s failed |\n' "$manual" "$m_ok" "$m_bad"
printf '| pfctl upgrade apply         | %ss | %s requests answered, %s failed |\n' "$pf" "$p_ok" "$p_bad"
printf 'ratio pfctl / manual: %s\n' "$(echo "scale=2; $pf / $manual" | bc)"
echo "pfctl's phases:"
grep -E '^  [a-z:]+: done' "$out/pfctl.out" | sed 's/^  /  /'
