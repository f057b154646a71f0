#!/usr/bin/env bash
# The ldap publish target against a real slapd that this test starts
# (tests/integration/slapd.sh): the entry Lync's service connection point
# lives in, written in one modify over StartTLS and over ldaps, read back by
# cmsctl and again here by ldapsearch; a wrong password, an untrusted
# certificate and a directory that refuses the change each fail the
# publish with the directory's own words and leave the entry as it was.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
. "$SRC/tests/integration/slapd.sh" || exit 1
trap 'slapd_stop; rm -rf "$T"' EXIT
slapd_start "$T/slapd" || { fail "slapd did not start"; finish; exit 1; }
export CMS_LDAP_PASSWORD=$LDAP_PASSWORD

# ldap_target URI [KEY: VALUE]...: a publish item for the test's entry.
ldap_target() {
	local uri=$1
	shift
	cat <<YAML
      - ldap: $uri
        dn: "$LDAP_SCP_DN"
        bind_dn: "CN=svc-cmsctl,DC=litwareinc,DC=com"
        password_env: CMS_LDAP_PASSWORD
        attributes:
          msRTCSIP-BackEndServer: "{primary_sql}"
          msRTCSIP-MirrorBackEndServer: "{mirror_sql}"
YAML
	local kv
	for kv in "$@"; do
		printf '        %s\n' "$kv"
	done
}

# The quick start's servers, made once and copied for each case.
mkdir pristine && (cd pristine && quickstart)

# A store whose servers carry the fqdn Lync's value is made of.
cp -a pristine good && cd good
sed -i 's#^\(        path: servers/\(pool-[ab]\)\)$#\1\n        fqdn: \2.litwareinc.com#' cms.yaml
contains cms.yaml "fqdn: pool-b.litwareinc.com"
{
	ldap_target "ldap://127.0.0.1:$LDAP_PORT" "ca_file: $LDAP_CA"
	ldap_target "ldaps://127.0.0.1:$LDAPS_PORT/" "ca_file: $LDAP_CA"
} >>cms.yaml
run 0 "$CMSCTL" validate
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
[ "$(ldap_attr msRTCSIP-BackEndServer)" = "pool-a.litwareinc.com" ] || fail "back end after adopt: $(ldap_attr msRTCSIP-BackEndServer)"
[ "$(ldap_attr msRTCSIP-MirrorBackEndServer)" = "pool-b.litwareinc.com" ] || fail "mirror after adopt"
run 0 "$CMSCTL" plan -o s.plan
run 0 "$CMSCTL" apply --json s.plan
[ "$(ldap_attr msRTCSIP-BackEndServer)" = "pool-b.litwareinc.com" ] || fail "back end after switchover: $(ldap_attr msRTCSIP-BackEndServer)"
[ "$(ldap_attr msRTCSIP-MirrorBackEndServer)" = "pool-a.litwareinc.com" ] || fail "mirror after switchover"
# Both transports wrote and read back (the report lists each target).
contains out "modified $LDAP_SCP_DN on ldap://127.0.0.1:$LDAP_PORT"
contains out "modified $LDAP_SCP_DN on ldaps://127.0.0.1:$LDAPS_PORT/"
cd "$T"

# Each bad case on a fresh store whose only target is the broken one: the
# publish fails (never exit 0) with the directory's words, the entry keeps
# the last good values, and the secret never shows.
bad_case() {
	local name=$1 want=$2
	shift 2
	cp -a pristine "$name" && cd "$name"
	ldap_target "$@" >>cms.yaml
	run 0 "$CMSCTL" plan -o adopt.plan
	local got=0
	"$CMSCTL" apply adopt.plan >out 2>err || got=$?
	[ "$got" != 0 ] || fail "$name: apply exited 0"
	contains err "$want"
	lacks err "$LDAP_PASSWORD"
	[ "$(ldap_attr msRTCSIP-BackEndServer)" = "pool-b.litwareinc.com" ] ||
		fail "$name: entry changed: $(ldap_attr msRTCSIP-BackEndServer)"
	cd "$T"
}
export CMS_LDAP_PASSWORD=wrong-$$
bad_case wrong-password "cannot bind to 'ldaps://127.0.0.1:$LDAPS_PORT' as 'CN=svc-cmsctl,DC=litwareinc,DC=com': Invalid credentials (ldap 49)" \
	"ldaps://127.0.0.1:$LDAPS_PORT" "ca_file: $LDAP_CA"
export CMS_LDAP_PASSWORD=$LDAP_PASSWORD
bad_case untrusted "starttls with 'ldap://127.0.0.1:$LDAP_PORT' failed" \
	"ldap://127.0.0.1:$LDAP_PORT" "ca_file: $LDAP_OTHER_CA"
# The schema holds one value: a template the directory refuses fails the
# modify as a whole (the good first attribute is not written either).
cp -a pristine refused && cd refused
cat >>cms.yaml <<YAML
      - ldap: ldap://127.0.0.1:$LDAP_PORT
        dn: "$LDAP_SCP_DN"
        bind_dn: "CN=svc-cmsctl,DC=litwareinc,DC=com"
        password_env: CMS_LDAP_PASSWORD
        ca_file: $LDAP_CA
        attributes:
          msRTCSIP-BackEndServer: "{primary}"
          description: "{store}"
YAML
run 0 "$CMSCTL" plan -o adopt.plan
got=0
"$CMSCTL" apply adopt.plan >out 2>err || got=$?
[ "$got" != 0 ] || fail "refused: apply exited 0"
contains err "cannot modify '$LDAP_SCP_DN' on 'ldap://127.0.0.1:$LDAP_PORT'"
[ "$(ldap_attr msRTCSIP-BackEndServer)" = "pool-b.litwareinc.com" ] ||
	fail "refused: entry changed: $(ldap_attr msRTCSIP-BackEndServer)"
cd "$T"
finish
