#!/usr/bin/env bash
# Paths: an output that is a device or a FIFO is written in place and never
# replaced, a symlink is followed (the link stays), anything else is
# refused and left alone; '-' is stdout.  An input that is a FIFO or a
# device is refused at once (never blocked on), and a too-large one says so.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart

# kind PATH: what PATH is (never following a link).
kind() { stat -c %F -- "$1"; }

# A character device made here (the null device's numbers) and a FIFO.
if mknod "$T/null" c 1 3 2>/dev/null; then
	have_dev=1
else
	have_dev=0
	[ "${CI:-}" = true ] && fail "cannot mknod a character device (CI runs as root)"
	printf 'note: mknod not permitted here; device cases skipped\n' >&2
fi
mkfifo fifo

# --- outputs ----------------------------------------------------------------
if [ "$have_dev" = 1 ]; then
	run 0 "$CMSCTL" plan -o "$T/null"
	[ "$(kind "$T/null")" = "character special file" ] || fail "plan -o replaced the device"
	run 0 "$CMSCTL" history --html "$T/null"
	[ "$(kind "$T/null")" = "character special file" ] || fail "history --html replaced the device"
fi

# A FIFO with a reader gets the bytes in place; one without is refused at
# once, not waited on.
cat fifo >fifo.got &
reader=$!
run 0 timeout 20 "$CMSCTL" plan -o fifo
wait "$reader"
[ "$(kind fifo)" = fifo ] || fail "plan -o replaced the FIFO"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' fifo.got || fail "the FIFO's reader did not get the plan"
run 1 timeout 20 "$CMSCTL" plan -o fifo
contains err "cannot write plan file 'fifo': it is a FIFO nobody reads"
[ "$(kind fifo)" = fifo ] || fail "a refused FIFO was replaced"

# A symlink is followed: the link stays, its target gets the new bytes.
echo old >target.json
ln -s target.json link.json
run 0 "$CMSCTL" plan -o link.json
[ "$(kind link.json)" = "symbolic link" ] || fail "plan -o replaced the symlink"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' target.json || fail "the link's target is not the plan"
ln -s nowhere.json dangling.json
run 1 "$CMSCTL" plan -o dangling.json
contains err "cannot write plan file 'dangling.json': it is a symbolic link to nothing"
[ ! -e nowhere.json ] || fail "a dangling link's target was created"

# A folder and a socket are refused and left alone.
mkdir afolder
run 1 "$CMSCTL" plan -o afolder
contains err "cannot write plan file 'afolder': it is a folder, not a regular file; left as it is"
[ "$(kind afolder)" = directory ] || fail "a folder was replaced"

# '-' is stdout: the plan's bytes there, the rendering on stderr.
run 0 "$CMSCTL" plan -o -
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' out || fail "plan -o - did not put the plan on stdout"
contains err "saved plan"
[ ! -e ./- ] || fail "plan -o - made a file named '-'"

# A file publish target is a location file: a device or FIFO is refused
# (never replaced), a symlink followed.
if [ "$have_dev" = 1 ]; then
	sed -i "s|- file: published/location.json|- file: $T/null|" cms.yaml
	run 0 "$CMSCTL" plan -o adopt.plan
	# Apply reads every location file before any change: refused (exit 7),
	# nothing recorded.
	run 7 "$CMSCTL" apply adopt.plan
	contains err "cannot write location file '$T/null': it is a character device, not a regular file; left as it is"
	[ ! -e .cmsctl/state.db ] || [ "$(sql .cmsctl/state.db 'SELECT count(*) FROM stores')" = 0 ] ||
		fail "a refused adoption was recorded"
	[ "$(kind "$T/null")" = "character special file" ] || fail "the publish target device was replaced"
	sed -i "s|- file: $T/null|- file: published/location.json|" cms.yaml
fi
mkdir -p published real
rm -f published/location.json
ln -s ../real/location.json published/location.json
echo '{}' >real/location.json
run 0 "$CMSCTL" plan -o a.plan
run 0 "$CMSCTL" apply a.plan
contains real/location.json '"primary": "pool-a"'
echo old >report-target.html
ln -s report-target.html report-link.html
run 0 "$CMSCTL" plan -o s.plan
run 0 "$CMSCTL" apply s.plan --report report-link.html
[ "$(kind report-link.html)" = "symbolic link" ] || fail "apply --report replaced the symlink"
contains report-target.html "<html"
[ "$(kind published/location.json)" = "symbolic link" ] || fail "the publish target symlink was replaced"
contains real/location.json '"primary": "pool-b"'
if [ "$have_dev" = 1 ]; then
	sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
	run 0 "$CMSCTL" plan -o back.plan
	run 0 "$CMSCTL" apply back.plan --report "$T/null"
	[ "$(kind "$T/null")" = "character special file" ] || fail "apply --report replaced the device"
fi

run 0 "$CMSCTL" history --html -
contains out "<html"
[ ! -e ./- ] || fail "history --html - made a file named '-'"

# --- inputs -----------------------------------------------------------------
# A FIFO (nobody writing) as config, plan and state: refused at once.
run 1 timeout 20 "$CMSCTL" validate -c fifo
contains err "cannot read config 'fifo': it is a FIFO, not a regular file"
run 1 timeout 20 "$CMSCTL" show fifo
contains err "cannot read plan file 'fifo': it is a FIFO, not a regular file"
run 1 timeout 20 "$CMSCTL" status --offline --state fifo
contains err "'fifo' is not a cmsctl state database (not a regular file)"
if [ "$have_dev" = 1 ]; then
	run 1 timeout 20 "$CMSCTL" validate -c "$T/null"
	contains err "cannot read config '$T/null': it is a character device, not a regular file"
fi

# Too large says so.
head -c $((5 * 1024 * 1024)) /dev/zero >big.plan
run 1 "$CMSCTL" show big.plan
contains err "cannot read plan file 'big.plan': too large (more than 4 MiB)"
head -c $((65 * 1024 * 1024)) /dev/zero | tr '\0' '#' >big.yaml
run 1 "$CMSCTL" validate -c big.yaml
contains err "cannot read config 'big.yaml': too large (more than 64 MiB)"
rm -f big.yaml
finish
