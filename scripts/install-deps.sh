#!/usr/bin/env bash
# Installs everything cmsctl needs to build, run and test on Debian 12:
# the libraries (found by CMake through pkg-config), the ODBC drivers, the
# PostgreSQL 15 server the integration tests start clusters of (and libpq,
# for the promotion floor of tests/bench/pg_switchover.sh), OpenLDAP's
# libldap (the ldap publish target) with the slapd, ldap-utils and openssl
# its test starts a directory with, the JSON Schema validator the tests
# check outputs with; zsh (its completion is checked), dpkg-dev and file
# (CPack's Debian package and its dependencies), openssh-server (the
# shared-history test starts an sshd), chromium (the history page is
# checked in a headless browser), iproute2 (`ip netns`, veth and `tc`: the
# partition tests cut a server off for real) with kmod (the kernel loads
# sch_netem through modprobe), and mount (a private /etc/resolv.conf in
# the name-lookup test).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E bash "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  build-essential cmake pkg-config git ca-certificates \
  libyaml-dev libsqlite3-dev sqlite3 unixodbc unixodbc-dev \
  libgit2-dev libjansson-dev libcmocka-dev libldap-dev \
  libsqliteodbc odbc-postgresql tdsodbc \
  postgresql postgresql-client libpq-dev \
  slapd ldap-utils openssl \
  python3 python3-jsonschema python3-yaml python3-html5lib jq \
  util-linux mount procps iproute2 kmod openssh-server openssh-client zsh dpkg-dev file chromium \
  strace
