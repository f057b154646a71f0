#!/usr/bin/env bash
# The config's `backend:` block: the state and the history live where the
# config says, relative to the config file's folder, so running from
# another directory with -c reaches the same state (no second adoption);
# --state/--history still override; a bad block is refused with
# file:line:column and nothing is created.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

mkdir -p proj elsewhere
(cd proj && quickstart)
cfg=$T/proj/cms.yaml

# Without a backend block the defaults sit next to the config.
cd "$T/elsewhere"
run 0 "$CMSCTL" plan -c ../proj/cms.yaml -o adopt.plan
run 0 "$CMSCTL" apply -c ../proj/cms.yaml adopt.plan
[ -f "$T/proj/.cmsctl/state.db" ] || fail "the state is not next to the config"
[ ! -e "$T/elsewhere/.cmsctl" ] || fail "a state was made in the current folder"
cd "$T/proj"
# From the config's own folder: the same state, so no second adoption.
run 0 "$CMSCTL" plan -o again.plan
lacks out "adopt"
contains out "switchover"
[ "$(serial)" = 1 ] || fail "serial is $(serial), expected 1"

# A backend block: state and history elsewhere, relative to the config.
cd "$T"
mkdir -p team/conf
cp -r proj/servers team/conf/
sed 's/^stores:/backend:\n  state: sqlite:shared\/state.db\n  history: shared\/history\nstores:/' \
	proj/cms.yaml >team/conf/cms.yaml
mkdir -p team/conf/shared
cd "$T/elsewhere"
run 0 "$CMSCTL" plan -c ../team/conf/cms.yaml -o a.plan
contains out "adopt"
run 0 "$CMSCTL" apply -c ../team/conf/cms.yaml a.plan
[ -f "$T/team/conf/shared/state.db" ] || fail "the state is not where the backend says"
[ -d "$T/team/conf/shared/history" ] || fail "the history is not where the backend says"
cd "$T/team"
run 0 "$CMSCTL" status -c conf/cms.yaml
contains out "serial 1"
run 0 "$CMSCTL" plan -c conf/cms.yaml -o b.plan
lacks out "adopt"
run 0 "$CMSCTL" lock list -c conf/cms.yaml
run 0 "$CMSCTL" history -c conf/cms.yaml
contains out "apply adopt pool-a"

# --state and --history still override (relative to the current folder).
run 0 "$CMSCTL" plan -c conf/cms.yaml --state other.db --history other-history -o c.plan
contains out "adopt"
[ -d other-history ] || fail "--history was not used"

# A bad block: file:line:column, nothing created.
cat >bad.yaml <<'YAML'
version: 1
backend:
  state: mysql
  histroy: h
stores: []
YAML
run 1 "$CMSCTL" validate -c bad.yaml
contains err "bad.yaml:3:10: error: unknown state backend 'mysql'"
contains err "bad.yaml:4:3: error: unknown key 'histroy' in backend"
cat >bad2.yaml <<'YAML'
version: 1
backend:
  state: postgresql
  connection: "host=db user=x password=hunter2"
stores: []
YAML
run 1 "$CMSCTL" validate -c bad2.yaml
contains err "bad2.yaml:4:15: error: literal password in 'connection' of the backend"
lacks err hunter2
# A config named with -c that does not load: the state is never guessed.
rm -rf "$T/empty" && mkdir "$T/empty" && cd "$T/empty"
run 1 "$CMSCTL" lock list -c ../team/bad.yaml
contains err "cannot tell where the state is"
[ ! -e .cmsctl ] || fail "a state was made although the config does not load"
finish
