#!/bin/bash
# Runs rules_test (tools/io/rules.c against the real nft, iptables, ip6tables
# and ip) inside two network namespaces of its own, joined by a veth pair;
# the root namespace's rules are never touched. Needs root.
#   test/netns/rules_test.sh [path/to/compiled/rules_test]
# Without an argument it compiles the test with cc. Exit status: 0 passed,
# 1 failed; a machine where it cannot run (not root, tools missing) fails
# too: the test command installs the tools and CI runs as root.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ns=espnat-rules-$$
peer=espnat-rules-peer-$$
tun=espnat-t0

if [ "$(id -u)" != 0 ]; then
	echo "rules_test: FAIL: must run as root" >&2
	exit 1
fi
for tool in ip nft iptables ip6tables iptables-save ip6tables-save timeout; do
	if ! command -v "$tool" >/dev/null; then
		echo "rules_test: FAIL: $tool not found" >&2
		exit 1
	fi
done

tmp=$(mktemp -d /tmp/espnat-rules.XXXXXX) || exit 1
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	ip netns del "$ns" 2>/dev/null
	ip netns del "$peer" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ $# -ge 1 ]; then
	bin=$1
else
	bin=$tmp/rules_test
	cc -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		-Wmissing-prototypes -Wvla -Wformat=2 -Wcast-align -I"$top" \
		-o "$bin" "$top/test/netns/rules_test.c" "$top/tools/io/rules.c" || exit 1
fi
if [ ! -x "$bin" ]; then
	echo "rules_test: $bin is not an executable" >&2
	exit 1
fi

if ! ip netns add "$ns" || ! ip netns add "$peer"; then
	echo "rules_test: SKIP: cannot create network namespaces" >&2
	exit 77
fi
set -e
ip -n "$ns" link set lo up
ip -n "$peer" link set lo up
# both ends are created inside the namespaces, never in the root one
ip -n "$ns" link add veth-a type veth peer name veth-b netns "$peer"
ip -n "$ns" addr add 10.77.0.1/24 dev veth-a
ip -n "$ns" addr add fd77::1/64 dev veth-a nodad
ip -n "$peer" addr add 10.77.0.2/24 dev veth-b
ip -n "$peer" addr add fd77::2/64 dev veth-b nodad
ip -n "$ns" link set veth-a up
ip -n "$peer" link set veth-b up
# a stand-in for the daemon's TUN device: a dummy link where the kernel has
# them (CONFIG_DUMMY), else a persistent TUN device nobody reads
if ! ip -n "$ns" link add "$tun" type dummy 2>/dev/null; then
	ip netns exec "$ns" ip tuntap add dev "$tun" mode tun
fi
ip -n "$ns" link set "$tun" up
set +e

# the test's stub tools go under $tmp too, so the trap removes them
TMPDIR=$tmp timeout -k 5 300 ip netns exec "$ns" "$bin" "$ns" "$peer" "$tun"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "rules_test: timed out" >&2
fi
exit $rc
