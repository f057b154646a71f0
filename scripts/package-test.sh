#!/usr/bin/env bash
# Builds the Debian package of cmsctl with CPack, installs it with dpkg -i,
# runs the quick start with the installed binary from the installed
# examples, checks the man page, completions and schemas are in place, and
# removes the package again.  CI runs it on its fresh machine.
# The package is built in its own folder, as a release build: the test
# build honours CMSCTL_NOW (-DCMSCTL_TEST_CLOCK=ON), a product must not.
# Usage: scripts/package-test.sh [BUILD-DIR]   (default build-pkg)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-pkg}
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
die() { printf 'package-test: %s\n' "$*" >&2; exit 1; }

cmake -S "$src" -B "$build" -DCMSCTL_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
grep -q '^CMSCTL_TEST_CLOCK:BOOL=ON' "$build/CMakeCache.txt" && die "$build is a test build (CMSCTL_TEST_CLOCK=ON)"
rm -f "$build"/cmsctl_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/cmsctl_*.deb)
[ -f "$deb" ] || die "cpack made no .deb in $build"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Recommends\):/  &/p' >&2
if dpkg -s cmsctl >/dev/null 2>&1; then
	die "a cmsctl package is installed already: not replacing it"
fi
$sudo dpkg -i "$deb"
trap '$sudo dpkg -r cmsctl >/dev/null 2>&1 || true' EXIT
[ "$(command -v cmsctl)" = /usr/bin/cmsctl ] || die "cmsctl is not /usr/bin/cmsctl after dpkg -i"
for f in /usr/share/man/man1/cmsctl.1 /usr/share/bash-completion/completions/cmsctl \
	/usr/share/zsh/vendor-completions/_cmsctl /usr/share/cmsctl/schemas/cms.schema.json \
	/usr/share/cmsctl/examples/quickstart/run.sh; do
	[ -f "$f" ] || die "the package did not install $f"
done
cmsctl version
work=$(mktemp -d /tmp/cmsctl-package.XXXXXX)
# The product ignores the test hooks: a hold at the first step of every
# apply would make the quick start take minutes (timeout fails it).
CMSCTL_TEST_HOLD_AT=1:running CMSCTL=/usr/bin/cmsctl timeout 50 \
	bash /usr/share/cmsctl/examples/quickstart/run.sh "$work/qs" ||
	die "the quick start failed (or held: a product build must ignore CMSCTL_TEST_HOLD_AT)"
# The quick start ends with pool-b primary, recorded and healthy.
(cd "$work/qs" && cmsctl status --detailed-exitcode >/dev/null) || die "status after the quick start is not healthy"
rm -rf "$work"
$sudo dpkg -r cmsctl
trap - EXIT
[ ! -e /usr/bin/cmsctl ] || die "/usr/bin/cmsctl is still there after dpkg -r"
printf 'package-test: %s built, installed, used and removed\n' "$(basename "$deb")" >&2
