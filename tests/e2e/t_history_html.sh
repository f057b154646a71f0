#!/usr/bin/env bash
# history --html DIR: one static page (no script) with every run's report
# and plan exported next to it, read in a real headless Chromium: the page
# renders, every link resolves to a file that renders, the store filter is
# CSS only, approvals are shown counted or not (with the signer and why),
# the audit verify line is there, and values holding markup are text.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
if ! command -v chromium >/dev/null; then
	[ "${CI:-}" = true ] && { echo "FAIL: chromium is not installed (scripts/install-deps.sh)" >&2; exit 1; }
	echo "skip: chromium is not installed" >&2
	exit 77
fi
browse() {   # browse MODE URL OUT: --dump-dom into OUT, or --screenshot=OUT
	local mode=$1 url=$2 out=$3 profile
	profile=$(mktemp -d "$T/chromium.XXXXXX")
	if [ "$mode" = dom ]; then
		timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--user-data-dir="$profile" --dump-dom "$url" >"$out" 2>"$T/chromium.err"
	else
		timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--user-data-dir="$profile" --window-size=1400,900 --screenshot="$out" "$url" \
			>/dev/null 2>"$T/chromium.err"
	fi || { fail "chromium could not render $url"; sed 's/^/  | /' "$T/chromium.err" >&2; }
}
quickstart
export CMSCTL_OPERATOR='alice<i>x</i>@test'
ssh-keygen -q -t ed25519 -N '' -C bob -f key-bob
printf 'bob@review %s\n' "$(cat key-bob.pub)" >signers
sed -i 's/approvals: 0/approvals: 1\n      allowed_signers: signers/' cms.yaml
run 0 "$CMSCTL" plan -o adopt.plan
id=$(git hash-object adopt.plan)
run 0 "$CMSCTL" approve "$id" --as bob@review --key key-bob
# An unsigned approval someone slipped into the history, with markup.
"$PY" -c 'import json,sys; print(json.dumps({"plan_id": sys.argv[1], "principal": "<b>mallory</b>", "approved_at": "2026-01-01T00:00:00Z", "signature": None}))' "$id" >m.json
history_plant "redmond/approvals/$id/_b_mallory__b_.json" m.json
run 0 "$CMSCTL" apply adopt.plan
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$id'")
# The planted approval is not a finding (unsigned approvals just do not count).
run 0 "$CMSCTL" history --html page
[ -f page/index.html ] || fail "no page/index.html"
lacks page/index.html "<script"
browse dom "file://$T/page/index.html" dom.html
contains dom.html "audit verify: passed"
contains dom.html "$rid"
contains dom.html "bob@review (signed)"
contains dom.html "&lt;b&gt;mallory&lt;/b&gt; (unsigned: not signed, and policy.signed_approvals is true)"
contains dom.html "alice&lt;i&gt;x&lt;/i&gt;@test"
contains dom.html 'id="store-redmond"'
contains dom.html 'id="all"'
# What the browser built: no element from a value, and the links.
"$PY" - dom.html <<'PYEOF' >links || fail "the rendered page"
import sys, html5lib
doc = html5lib.parse(open(sys.argv[1], "rb").read(), namespaceHTMLElements=False)
assert not doc.findall(".//script"), "a script element"
assert not doc.findall(".//b") and not doc.findall(".//i"), "markup from a value became an element"
hrefs = [a.get("href") for a in doc.iter("a")]
assert "#store-redmond" in hrefs and "#all" in hrefs, hrefs
files = sorted(set(h for h in hrefs if not h.startswith("#")))
assert len(files) == 3, files
print("\n".join(files))
PYEOF
while read -r f; do
	[ -f "page/$f" ] || { fail "link '$f' does not resolve"; continue; }
	browse dom "file://$T/page/$f" linked.html
	[ -s linked.html ] || fail "'$f' rendered empty"
	contains linked.html "$( case $f in *plans*) echo "\"lineage\"";; *) echo "$rid";; esac )"
done <links
contains links "redmond/runs/$rid/report.html"
contains links "redmond/plans/$id.json"
browse shot "file://$T/page/index.html#store-redmond" shot.png
"$PY" -c 'import sys; d=open("shot.png","rb").read(); assert d[:8]==b"\x89PNG\r\n\x1a\n" and len(d) > 10000, len(d)' ||
	fail "no screenshot"
# A tampered record shows on the page.
git --git-dir=.cmsctl/history update-ref refs/heads/cms-history cms-history~1
run 0 "$CMSCTL" history --html page2
contains page2/index.html "audit verify: FAILED"
contains page2/index.html "history-rewritten"
finish
