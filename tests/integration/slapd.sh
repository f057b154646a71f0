# Sourced by tests that need a directory server: starts a private slapd on
# loopback with TLS (StartTLS on one port, ldaps on another), the test
# schema of tests/integration/ldap/lync-test.schema, and a tree shaped like
# Active Directory's configuration partition:
#
#   DC=litwareinc,DC=com
#     CN=svc-cmsctl                 the account cmsctl binds as (password in $LDAP_PASSWORD)
#     CN=Configuration / CN=Services / CN=RTC Service
#       CN=Topology Settings        msRTCSIP-GlobalTopologySetting, writable by svc-cmsctl only
#
#   slapd_start DIR   makes the certificates (a CA of its own, and an
#                     unrelated CA in $LDAP_OTHER_CA), the config and the
#                     database under DIR, starts slapd and waits (at most
#                     30 s) until it answers over TLS; sets LDAP_PORT,
#                     LDAPS_PORT, LDAP_CA, LDAP_OTHER_CA, LDAP_PASSWORD,
#                     LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LDAP_SCP_DN.
#   slapd_stop        stops it (also run by the EXIT trap the caller sets).
#   ldap_attr ATTR    the value(s) of ATTR on $LDAP_SCP_DN, read as the
#                     admin over StartTLS, one per line (empty when none).
#
# Every file stays under DIR; the ports are free ones picked at start; the
# server runs as whoever runs the test (root or not).  Missing slapd,
# slapadd, ldapsearch or openssl: exit 77, or a failure when CI=true.

slapd_missing() {
	if [ "${CI:-}" = true ]; then
		printf 'FAIL: %s (CI=true: a missing directory server is a broken runner, not a skip)\n' "$*" >&2
		exit 1
	fi
	printf 'SKIP: %s -- apt-get install slapd ldap-utils openssl\n' "$*" >&2
	exit 77
}

slapd_free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SLAPD_PID=
slapd_start() {
	local dir=$1 bin tool i
	bin=$(command -v slapd || true)
	[ -n "$bin" ] || bin=/usr/sbin/slapd
	[ -x "$bin" ] || slapd_missing "slapd not found"
	for tool in slapadd ldapsearch openssl; do
		command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || slapd_missing "$tool not found"
	done
	mkdir -p "$dir/db"
	(
		cd "$dir" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj /CN=cmsctl-test-ca
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other-ca.key -out other-ca.crt -days 2 \
			-subj /CN=cmsctl-test-other-ca
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj /CN=localhost
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out server.crt -days 2 -extfile san.ext
	) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
	LDAP_CA=$dir/ca.crt
	LDAP_OTHER_CA=$dir/other-ca.crt
	LDAP_PASSWORD=svc-pass-$$
	LDAP_ADMIN="CN=admin,DC=litwareinc,DC=com"
	LDAP_ADMIN_PASSWORD=admin-pass-$$
	LDAP_SCP_DN="CN=Topology Settings,CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com"
	cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include $CMSCTL_SOURCE_DIR/tests/integration/ldap/lync-test.schema
pidfile $dir/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile $dir/ca.crt
TLSCertificateFile $dir/server.crt
TLSCertificateKeyFile $dir/server.key
# Every operation needs TLS: a client that forgot StartTLS is refused.
security tls=1
database mdb
maxsize 16777216
suffix "DC=litwareinc,DC=com"
rootdn "$LDAP_ADMIN"
rootpw $LDAP_ADMIN_PASSWORD
directory $dir/db
access to dn.base="$LDAP_SCP_DN"
	by dn.exact="CN=svc-cmsctl,DC=litwareinc,DC=com" write
	by * none
access to attrs=userPassword
	by anonymous auth
	by * none
access to * by * none
CONF
	cat >"$dir/base.ldif" <<LDIF
dn: DC=litwareinc,DC=com
objectClass: dcObject
objectClass: organization
dc: litwareinc
o: Litware

dn: CN=svc-cmsctl,DC=litwareinc,DC=com
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: svc-cmsctl
userPassword: $LDAP_PASSWORD

dn: CN=Configuration,DC=litwareinc,DC=com
objectClass: container
cn: Configuration

dn: CN=Services,CN=Configuration,DC=litwareinc,DC=com
objectClass: container
cn: Services

dn: CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com
objectClass: container
cn: RTC Service

dn: $LDAP_SCP_DN
objectClass: msRTCSIP-GlobalTopologySetting
cn: Topology Settings
msRTCSIP-BackEndServer: seed-sql.litwareinc.com\\RTC
LDIF
	PATH=$PATH:/usr/sbin slapadd -q -f "$dir/slapd.conf" -l "$dir/base.ldif" >"$dir/slapadd.log" 2>&1 ||
		{ cat "$dir/slapadd.log" >&2; return 1; }
	LDAP_PORT=$(slapd_free_port)
	LDAPS_PORT=$(slapd_free_port)
	# -d 0: stay in the foreground (a child of this shell), logging nothing.
	"$bin" -d 0 -f "$dir/slapd.conf" \
		-h "ldap://127.0.0.1:$LDAP_PORT/ ldaps://127.0.0.1:$LDAPS_PORT/" >"$dir/slapd.log" 2>&1 &
	SLAPD_PID=$!
	for i in $(seq 1 300); do
		if LDAPTLS_CACERT=$LDAP_CA ldapsearch -LLL -ZZ -x -H "ldap://127.0.0.1:$LDAP_PORT" \
			-D "$LDAP_ADMIN" -w "$LDAP_ADMIN_PASSWORD" -b "$LDAP_SCP_DN" -s base dn \
			>/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$SLAPD_PID" 2>/dev/null; then
			cat "$dir/slapd.log" >&2
			return 1
		fi
		sleep 0.1
	done
	printf 'slapd did not answer within 30 s\n' >&2
	return 1
}

slapd_stop() {
	if [ -n "$SLAPD_PID" ]; then
		kill "$SLAPD_PID" 2>/dev/null || true
		wait "$SLAPD_PID" 2>/dev/null || true
		SLAPD_PID=
	fi
}

ldap_attr() {
	LDAPTLS_CACERT=$LDAP_CA ldapsearch -LLL -o ldif-wrap=no -ZZ -x -H "ldap://127.0.0.1:$LDAP_PORT" \
		-D "$LDAP_ADMIN" -w "$LDAP_ADMIN_PASSWORD" -b "$LDAP_SCP_DN" -s base "$1" |
		sed -n "s/^$1: //p"
}
