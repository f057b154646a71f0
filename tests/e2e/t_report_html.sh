#!/usr/bin/env bash
# Reports are self-contained and escape every value: an operator name
# carrying markup is shown as text, and the page still parses.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
export CMSCTL_OPERATOR='<script>alert(1)</script>@x'
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan --report r.html --json
cp out r.json
validate_json report.schema.json r.json
lacks r.html "<script>"
contains r.html "&lt;script&gt;alert(1)&lt;/script&gt;@x"
lacks r.html "http://"
lacks r.html "https://"
"$PY" - r.html <<'PYEOF' || fail "page does not parse or carries a script"
import sys, html5lib
doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(open(sys.argv[1], "rb").read())
assert not doc.findall(".//script"), "script element"
text = "".join(doc.itertext())
assert "<script>alert(1)</script>@x" in text
PYEOF
# Markup in text that comes from elsewhere (a step's error, the run's
# error, a follow-up) is escaped too: a publish command whose path carries
# a tag fails after promotion.
mkdir -p "$T/<i>x"
printf '#!/bin/sh\nexit 3\n' >"$T/<i>x/fail.sh"
chmod +x "$T/<i>x/fail.sh"
printf '      - command: ["%s/<i>x/fail.sh"]\n' "$T" >>cms.yaml
run 0 "$CMSCTL" plan -o s.plan
run 6 "$CMSCTL" apply s.plan --report f.html
contains f.html "&lt;i&gt;x/fail.sh"
lacks f.html "<i>"
"$PY" - f.html <<'PYEOF' || fail "the failure page does not parse"
import sys, html5lib
doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(open(sys.argv[1], "rb").read())
assert not doc.findall(".//i"), "an i element came from a value"
PYEOF
run 0 "$CMSCTL" history --html h.html
lacks h.html "<script>"
contains h.html "&lt;script&gt;"
finish
