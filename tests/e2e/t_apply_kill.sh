#!/usr/bin/env bash
# SIGKILL at every step boundary of a switchover: the harness waits until
# the journal shows step N running (or done), kills the apply, and checks
# that the state passes PRAGMA integrity_check, that status names the
# interrupted step, and that restore leaves exactly one writable primary
# with the recorded location matching it.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

writable() {
	for s in pool-a pool-b dublin-dr; do
		r=$(sql servers/$s/xds.db "SELECT role || '/' || read_only FROM cms_control")
		[ "$r" = "primary/0" ] && printf '%s\n' "$s"
	done
	return 0
}

case_at() {   # case_at N STATUS
	local n=$1 st=$2 pid i id got=""
	rm -rf "$T/k" && mkdir "$T/k" && cd "$T/k"
	quickstart
	"$CMSCTL" plan -o adopt.plan >/dev/null 2>&1 && "$CMSCTL" apply adopt.plan >/dev/null 2>&1
	"$CMSCTL" plan -o s.plan >/dev/null 2>&1
	id=$(git hash-object s.plan)
	CMSCTL_TEST_HOLD_AT="$n:$st" "$CMSCTL" apply s.plan >apply.out 2>apply.err &
	pid=$!
	for i in $(seq 1 200); do
		got=$(sql .cmsctl/state.db "SELECT status FROM steps WHERE n = $n AND run_id = (SELECT id FROM runs WHERE plan_id = '$id')" 2>/dev/null || true)
		[ "$got" = "$st" ] && break
		sleep 0.05
	done
	[ "$got" = "$st" ] || { fail "step $n never reached $st"; kill -9 $pid; return; }
	kill -9 $pid
	wait $pid 2>/dev/null || true
	[ "$(sql .cmsctl/state.db 'PRAGMA integrity_check')" = ok ] || fail "integrity_check after kill at $n:$st"
	run 0 "$CMSCTL" status
	contains out "interrupted apply run"
	action=$(sql .cmsctl/state.db "SELECT action FROM steps WHERE n = $n AND run_id = (SELECT id FROM runs WHERE kind='apply' ORDER BY started_at DESC, rowid DESC LIMIT 1)")
	contains out "$n. $action"
	run 6 "$CMSCTL" apply s.plan
	run 0 "$CMSCTL" restore --yes
	writable >w
	[ "$(wc -l <w)" = 1 ] || { fail "after kill at $n:$st and restore: writable primaries: $(cat w | tr '\n' ' ')"; return; }
	rec=$(sql .cmsctl/state.db "SELECT primary_server FROM stores WHERE name='redmond'")
	[ "$(cat w)" = "$rec" ] || fail "after kill at $n:$st: writable $(cat w) but recorded $rec"
	pub=$("$PY" -c 'import json; print(json.load(open("published/location.json"))["primary"])')
	[ "$pub" = "$rec" ] || fail "after kill at $n:$st: published $pub but recorded $rec"
	run 0 "$CMSCTL" status
	contains out "drift: none"
	lacks out "interrupted"
	pass "kill at step $n $st: restored to $rec"
}

for n in 1 2 3 4 5 6 7 8; do
	case_at $n running
	case_at $n done
done
finish
