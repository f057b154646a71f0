# Sourced by the partition tests (after lib.sh): a network namespace
# reached from this host through a veth pair, and real cuts of it.
#
#   netns_make                  makes the namespace NETNS (cmsp<pid>) with the
#                               loopback up, the veth NETNS_VH (this side,
#                               NETNS_HOST_ADDR) / NETNS_VN (inside, NETNS_ADDR)
#                               in the /30 NETNS_NET, both ends up
#   netns_cut link              the namespace's end of the veth goes down (its
#                               network card died: packets to it are lost)
#   netns_cut loss              every packet is dropped on both ends: `tc qdisc
#                               ... root netem loss 100%`; a kernel built
#                               without netem (sch_netem) gets the same 100%
#                               silent loss from a FIFO qdisc of length 0
#                               (`pfifo limit 0`), and says so
#   netns_heal                  undoes the cut
#   netns_destroy               removes the namespace, the veth and its qdiscs
#                               (safe to call twice, and on every exit path)
#
# Names are unique per test process (the pid): tests may run side by side.
# Needs root (CI runs as root); without it the test skips (exit 77), or
# fails under CI=true.

NETNS=
NETNS_CUT=

netns_make() {
	local p=$$ a b c
	if [ "$(id -u)" -ne 0 ]; then
		pgc_missing "network namespaces need root"
	fi
	command -v ip >/dev/null 2>&1 || pgc_missing "ip not found (apt-get install iproute2)"
	command -v tc >/dev/null 2>&1 || pgc_missing "tc not found (apt-get install iproute2)"
	# A /30 of 10.64.0.0/9 derived from the pid: distinct for the tests
	# running at the same time.
	a=$((64 + ((p >> 14) & 127)))
	b=$(((p >> 6) & 255))
	c=$(((p & 63) << 2))
	NETNS_NET=10.$a.$b.$c/30
	NETNS_HOST_ADDR=10.$a.$b.$((c + 1))
	NETNS_ADDR=10.$a.$b.$((c + 2))
	if [ -n "$(ip -4 route show to match "$NETNS_ADDR" | grep -v '^default')" ]; then
		pgc_fail "$NETNS_NET is already routed on this host: $(ip -4 route show to match "$NETNS_ADDR")"
	fi
	NETNS=cmsp$p
	NETNS_VH=cmsh$p
	NETNS_VN=cmsn$p
	ip netns add "$NETNS" || pgc_fail "cannot create network namespace $NETNS"
	ip link add "$NETNS_VH" type veth peer name "$NETNS_VN" || pgc_fail "cannot create veth $NETNS_VH"
	ip link set "$NETNS_VN" netns "$NETNS" &&
		ip addr add "$NETNS_HOST_ADDR/30" dev "$NETNS_VH" &&
		ip link set "$NETNS_VH" up &&
		ip -n "$NETNS" addr add "$NETNS_ADDR/30" dev "$NETNS_VN" &&
		ip -n "$NETNS" link set "$NETNS_VN" up &&
		ip -n "$NETNS" link set lo up || pgc_fail "cannot set up veth $NETNS_VH/$NETNS_VN"
	export NETNS NETNS_ADDR NETNS_HOST_ADDR NETNS_NET
	pgc_say "network namespace $NETNS at $NETNS_ADDR, through veth $NETNS_VH ($NETNS_HOST_ADDR)"
}

# Drops every packet leaving the host's end, and sets NETNS_QDISC to the
# qdisc that did it (for the namespace's end).
netns_drop_host_end() {
	local err
	if err=$(tc qdisc add dev "$NETNS_VH" root netem loss 100% 2>&1); then
		NETNS_QDISC="netem loss 100%"
		return 0
	fi
	case $err in
	*"qdisc kind is unknown"*)
		tc qdisc add dev "$NETNS_VH" root pfifo limit 0 || return 1
		NETNS_QDISC="pfifo limit 0"
		pgc_say "this kernel has no netem (sch_netem): dropping every packet with pfifo limit 0"
		return 0 ;;
	esac
	pgc_say "tc qdisc add ... netem failed: $err"
	return 1
}

netns_cut() {
	case $1 in
	link)
		ip -n "$NETNS" link set "$NETNS_VN" down || pgc_fail "cannot set $NETNS_VN down"
		NETNS_CUT_HOW="link $NETNS_VN down" ;;
	loss)
		netns_drop_host_end || pgc_fail "cannot drop packets on $NETNS_VH"
		# shellcheck disable=SC2086 # the qdisc and its parameters
		tc -n "$NETNS" qdisc add dev "$NETNS_VN" root $NETNS_QDISC ||
			pgc_fail "cannot drop packets on $NETNS_VN"
		NETNS_CUT_HOW="$NETNS_QDISC on both ends" ;;
	*) pgc_fail "netns_cut: link or loss, not '$1'" ;;
	esac
	NETNS_CUT=$1
	pgc_say "cut: $NETNS_CUT_HOW"
}

netns_heal() {
	case $NETNS_CUT in
	link) ip -n "$NETNS" link set "$NETNS_VN" up || pgc_fail "cannot set $NETNS_VN up" ;;
	loss)
		tc qdisc del dev "$NETNS_VH" root || pgc_fail "cannot remove the qdisc of $NETNS_VH"
		tc -n "$NETNS" qdisc del dev "$NETNS_VN" root || pgc_fail "cannot remove the qdisc of $NETNS_VN" ;;
	esac
	NETNS_CUT=
	pgc_say "healed"
}

netns_destroy() {
	[ -n "$NETNS" ] || return 0
	ip netns del "$NETNS" 2>/dev/null || true
	# The host end goes with its peer; should anything still hold the
	# namespace, remove it (and its qdisc) here.
	ip link del "$NETNS_VH" 2>/dev/null || true
	NETNS=
}
