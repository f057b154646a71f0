#!/usr/bin/env bash
# A run that cannot be recorded is refused before it changes anything: the
# history is made read-only for real (a read-only bind mount in a private
# mount namespace), and apply and restore are refused with exit 7 while the
# servers, the state and the history stay as they were.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
	[ "${CI:-}" = true ] && { echo "FAIL: needs root and unshare -m (mount namespaces) in CI" >&2; exit 1; }
	echo "skip: needs root and unshare -m" >&2
	exit 77
fi
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o s.plan
snapshot_all() {
	sha256sum servers/*/*.db .cmsctl/state.db* 2>/dev/null
	git --git-dir=.cmsctl/history rev-parse cms-history
	sql .cmsctl/state.db "SELECT count(*) FROM runs"
}
snapshot_all >before
# ro CMD...: runs CMD with .cmsctl/history mounted read-only.
ro() {
	unshare -m sh -c 'mount --bind .cmsctl/history .cmsctl/history &&
		mount -o remount,bind,ro .cmsctl/history && exec "$@"' ro "$@"
}
run 7 ro "$CMSCTL" apply s.plan
contains err "history repository '.cmsctl/history' cannot be written: cannot create a file in '"
contains err "Read-only file system"
contains err "nothing was changed"
run 7 ro "$CMSCTL" restore --yes
contains err "cannot be written"
snapshot_all >after
same before after
# Writable again: the same plan applies.
run 0 "$CMSCTL" apply s.plan
finish
