#!/usr/bin/env bash
# deps.sh [test|fuzz] — installs the Debian packages overstapd needs, and only the
# missing ones: nothing is downloaded (not even the package lists) when all are
# there. `test` adds what the integration tests use (python protobuf + protoc,
# promtool, headless chromium and the NSS tools that give it a client
# certificate, debhelper + lintian + patroni for test_packaging) and what the
# fuzz targets need; `fuzz` only the latter (clang, and libFuzzer,
# which Debian 12 ships in libclang-rt-14-dev).
# Runs as root, or through sudo.
set -euo pipefail

build_pkgs=(build-essential pkg-config libevent-dev libpq-dev libssl-dev
	libprotobuf-c-dev protobuf-c-compiler libcunit1-dev libinih-dev
	libjansson-dev libcsv-dev libsystemd-dev postgresql-15 openssl python3 curl)
test_pkgs=(python3-protobuf protobuf-compiler prometheus chromium libnss3-tools debhelper lintian patroni)
fuzz_pkgs=(clang libclang-rt-14-dev)

want=("${build_pkgs[@]}")
case "${1:-}" in
	test) want+=("${test_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
	fuzz) want+=("${fuzz_pkgs[@]}") ;;
	"") ;;
	*) echo "usage: $0 [test|fuzz]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi

if ((EUID == 0)); then
	as_root=()
elif command -v sudo >/dev/null; then
	as_root=(sudo -n)
else
	echo "deps.sh: missing packages (${missing[*]}) and neither root nor sudo" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}"
# Packages with a service (postgresql-15, prometheus) must not start one: the
# project runs its own clusters on ports of its own. policy-rc.d says so to
# invoke-rc.d for the length of the install (only if none is there already).
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
	"${as_root[@]}" chmod 755 "$policy"
	trap '"${as_root[@]}" rm -f "$policy"' EXIT
fi
# Wait for another apt/dpkg (a parallel `make run`, unattended upgrades) instead of failing.
lock=(-o DPkg::Lock::Timeout=600)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq \
	--no-install-recommends "${missing[@]}" </dev/null
