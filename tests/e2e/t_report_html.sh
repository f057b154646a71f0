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
run 0 "$CMSCTL" history --html h.html
lacks h.html "<script>"
contains h.html "&lt;script&gt;"
finish
