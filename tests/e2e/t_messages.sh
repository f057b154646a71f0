#!/usr/bin/env bash
# Messages that name the value, the path and the next step: did-you-mean
# for commands, options and stores; the stores listed when -s is needed;
# the history searched for a plan id; hints for offline and stale plans;
# the config value changed since planning; a missing password variable as
# an error naming it; 'history -s' of an unknown store.  And the prompts:
# restore shows its steps and asks (--yes, --dry-run, refusal without a
# terminal); approve takes a plan file; apply takes a plan id.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart

run 64 "$CMSCTL" plam
contains err "unknown command 'plam': did you mean 'plan'?"
run 64 "$CMSCTL" help stauts
contains err "did you mean 'status'?"
run 64 "$CMSCTL" xyzzy
lacks err "did you mean"
# Subcommands too: the closest one, else the list.
run 64 "$CMSCTL" audit verfy
contains err "unknown audit subcommand 'verfy': did you mean 'verify'?"
run 64 "$CMSCTL" lock lst
contains err "unknown lock subcommand 'lst': did you mean 'list'?"
run 64 "$CMSCTL" state migrat
contains err "unknown state subcommand 'migrat': did you mean 'migrate'?"
run 64 "$CMSCTL" history psh
contains err "unknown history subcommand 'psh': did you mean 'push'?"
run 64 "$CMSCTL" state xyzzy
contains err "unknown state subcommand 'xyzzy' (show, migrate)"
run 64 "$CMSCTL" status --detailed-exitcod
contains err "unknown option '--detailed-exitcod': did you mean '--detailed-exitcode'?"
run 1 "$CMSCTL" plan -s redmnd
contains err "no store 'redmnd' in 'cms.yaml'"
contains err "did you mean 'redmond'?"
run 1 "$CMSCTL" history -s redmnd
contains err "no store 'redmnd'"
contains err "did you mean 'redmond'?"
run 0 "$CMSCTL" history -s redmond
contains err "no history at '.cmsctl/history' yet"

# Two stores: -s is needed, and the message lists them.
"$PY" - <<'PYEOF'
import re
text = open("cms.yaml").read()
body = text[text.index("  - name: redmond"):]
body = body.replace("name: redmond", "name: dublin", 1)
# (A location file is one store's: dublin publishes to its own.)
body = body.replace("file: published/location.json", "file: published/dublin.json")
# (A sqlite database file is one store's: dublin's servers have their own.)
body = body.replace("path: servers/", "path: dublin/servers/")
open("two.yaml", "w").write(text + body)
PYEOF
run 64 "$CMSCTL" plan -c two.yaml
contains err "'two.yaml' has 2 stores (redmond, dublin): choose one with -s STORE"
contains err "cmsctl plan -s redmond"

# A plan id that is not in the history names the history and --history.
run 1 "$CMSCTL" show 0123456789abcdef
contains err "no plan '0123456789abcdef' in the history at '.cmsctl/history'"
contains err "--history PATH"
run 0 "$CMSCTL" plan -o adopt.plan
id=$(git hash-object adopt.plan)
run 3 "$CMSCTL" apply adopt.plan --history elsewhere
contains err "is not in the history at 'elsewhere'"
contains err "--history PATH"
rm -rf elsewhere
# apply PLAN-ID (abbreviated).
run 0 "$CMSCTL" apply "${id:0:12}"
contains out "redmond: apply adopt pool-a: ok"
run 3 "$CMSCTL" apply "$id"
contains err "already applied"
contains err "make and review a new one with 'cmsctl plan -s redmond -o FILE'"

# An offline plan: the hint says how to make one that can be applied.
run 0 "$CMSCTL" plan --offline -o offline.plan
run 3 "$CMSCTL" apply offline.plan
contains err "was made --offline"
contains err "cmsctl plan -s redmond -o FILE"

# A config value changed since planning is named.
run 0 "$CMSCTL" plan -o s.plan
sed 's/max_lag_bytes: 16MiB/max_lag_bytes: 8MiB/' cms.yaml >changed.yaml
run 3 "$CMSCTL" apply -c changed.yaml s.plan
contains err "policy.max_lag_bytes is 16777216 in the plan, 8388608 now"

# approve takes the plan file as well as its id.
ssh-keygen -q -t ed25519 -N '' -C bob -f key-bob
run 0 "$CMSCTL" approve s.plan --as bob@test --key key-bob
contains out "approved plan $(git hash-object s.plan) of store redmond as bob@test"
printf '{}' >edited.plan
run 3 "$CMSCTL" approve edited.plan
contains err "is not a valid plan"

# A missing password variable is an error naming it, not an unreachable
# server (and not exit 0).
cp "$SRC/examples/postgresql/cms.yaml" pg.yaml
unset CMS_POOL_A_PASSWORD
run 1 "$CMSCTL" status -c pg.yaml --state pg-state.db
contains err "password variable 'CMS_POOL_A_PASSWORD' is not set"
contains err "export CMS_POOL_A_PASSWORD="
run 1 "$CMSCTL" plan -c pg.yaml --state pg-state.db
contains err "password variable 'CMS_POOL_A_PASSWORD' is not set"

# restore: shows its steps; --dry-run changes nothing; no terminal and no
# --yes is a refusal (5) that changes nothing; --yes restores.
for d in xds lis; do sql servers/pool-a/$d.db "UPDATE cms_control SET read_only = 1"; done
runs_before=$(sql .cmsctl/state.db "SELECT count(*) FROM runs")
head_before=$(git -C .cmsctl/history rev-parse cms-history)
run 0 "$CMSCTL" restore --dry-run
contains out "Restore of store redmond (dry run: nothing is changed):"
contains out "fence        pool-a          unfence the recorded primary"
run 5 "$CMSCTL" restore </dev/null
contains out "unfence the recorded primary"
contains err "standard input is not a terminal"
contains err "--dry-run"
[ "$(sql servers/pool-a/xds.db 'SELECT read_only FROM cms_control')" = 1 ] || fail "a refused restore changed pool-a"
[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs")" = "$runs_before" ] || fail "a refused restore journaled a run"
[ "$(git -C .cmsctl/history rev-parse cms-history)" = "$head_before" ] || fail "a refused restore committed"
run 0 "$CMSCTL" restore --yes --progress
contains err "cmsctl: [1/3] fence pool-a ... done ("
contains err "cmsctl: [3/3] verify ... done ("
[ "$(sql servers/pool-a/xds.db 'SELECT read_only FROM cms_control')" = 0 ] || fail "restore --yes did not unfence pool-a"
# --verbose shows the statements with their timings.
for d in xds lis; do sql servers/pool-a/$d.db "UPDATE cms_control SET read_only = 1"; done
CMSCTL_LOG=debug run 0 "$CMSCTL" restore --yes
contains err " ms  pool-a/xds: UPDATE cms_control SET read_only = 0"
finish
