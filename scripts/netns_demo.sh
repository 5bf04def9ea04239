#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces han-a and han-b, each with
# only its loopback and one end of a veth pair (10.77.0.1 and 10.77.0.2), so
# no traffic can leave them. Rank 0 runs in han-a and holds the rendezvous
# store at 10.77.0.1; rank 1 runs in han-b and reaches it over the veth, as a
# second machine would. Prints the TCP connections seen in each namespace
# during training and the bytes that crossed the veth. Needs root and iproute2.
#   scripts/netns_demo.sh PATH/TO/han CORPUS OUTPUT.han [han train options...]
#   e.g. scripts/netns_demo.sh build/han /tmp/data/aclImdb/train /tmp/netns.han --epochs 1
set -euo pipefail
han=$(realpath "${1:?usage: netns_demo.sh PATH/TO/han CORPUS OUTPUT.han [train options...]}")
corpus=$(realpath "${2:?corpus}")
output=$(realpath -m "${3:?output model}")
shift 3
[ "$(id -u)" -eq 0 ] || { echo "netns_demo.sh: needs root (ip netns)" >&2; exit 1; }
command -v ip > /dev/null || { echo "netns_demo.sh: needs iproute2 (apt-get install iproute2)" >&2; exit 1; }

logs=$(mktemp -d)
cleanup() {
  [ -n "${pid0:-}" ] && kill "$pid0" "$pid1" 2> /dev/null
  ip netns del han-a 2> /dev/null || true
  ip netns del han-b 2> /dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT
ip netns del han-a 2> /dev/null || true
ip netns del han-b 2> /dev/null || true
ip netns add han-a
ip netns add han-b
ip link add han-veth-a type veth peer name han-veth-b
ip link set han-veth-a netns han-a
ip link set han-veth-b netns han-b
ip -n han-a addr add 10.77.0.1/24 dev han-veth-a
ip -n han-b addr add 10.77.0.2/24 dev han-veth-b
for side in a b; do
  ip -n han-$side link set lo up
  ip -n han-$side link set han-veth-$side up
done
echo "== interfaces in han-b (rank 1's host)"
ip -n han-b -brief addr

port=29400
run_rank() {  # NAMESPACE RANK [train options...]
  local namespace=$1 rank=$2
  shift 2
  ip netns exec "$namespace" env RANK="$rank" LOCAL_RANK=0 WORLD_SIZE=2 LOCAL_WORLD_SIZE=1 MASTER_ADDR=10.77.0.1 \
    MASTER_PORT=$port "$han" --threads 1 train "$corpus" --no-checkpoint -o "$output" "$@"
}
start=$(date +%s)
run_rank han-a 0 "${@}" > "$logs/rank0.log" 2>&1 &
pid0=$!
run_rank han-b 1 "${@}" > "$logs/rank1.log" 2>&1 &
pid1=$!

# Connections as each namespace sees them, sampled while the ranks train.
while kill -0 "$pid0" 2> /dev/null; do
  for side in a b; do
    ip netns exec han-$side ss -tnH state established 2> /dev/null |
      awk -v ns=han-$side '{print ns, $3, "<->", $4}' >> "$logs/connections"
  done
  sleep 1
done
status=0
wait "$pid0" || status=$?
wait "$pid1" || status=$?
pid0=
echo "== rank 0 (han-a, 10.77.0.1)"
cat "$logs/rank0.log"
echo "== rank 1 (han-b, 10.77.0.2)"
cat "$logs/rank1.log"
echo "== TCP connections seen during training (local <-> peer)"
sort "$logs/connections" 2> /dev/null | sed -E 's/:[0-9]+( |$)/:*\1/g' | sort | uniq -c
echo "== bytes over the veth (han-a side)"
ip -n han-a -s link show han-veth-a | awk '/RX:/{getline; print "received", $1} /TX:/{getline; print "sent    ", $1}'
echo "== $(( $(date +%s) - start )) s, exit $status"
exit $status
