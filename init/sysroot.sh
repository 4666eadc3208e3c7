#!/bin/sh
# SPDX-License-Identifier: ISC
# init/sysroot.sh - a sysroot of Debian's armhf or arm64 libraries for the
# cross build (`make sysroot CROSS=arm-linux-gnueabihf-`, README "Building
# for ARM"; facts in ../shared/notes/arm-cross.md).
#
#   sh init/sysroot.sh ARCH DIR      ARCH = armhf | arm64
#
# Installs, if missing, the cross compiler and qemu-user (apt-get, root or
# sudo).  Then, with apt run on a private state directory (own sources,
# lists, cache and an empty dpkg status: the host's dpkg database is never
# touched, no `dpkg --add-architecture`, so no multiarch version skew),
# downloads the -dev packages facteur links against with their
# dependencies, unpacks every .deb into DIR with dpkg-deb -x and turns
# absolute symlinks into relative ones so that they resolve inside DIR.
# DIR/.stamp records the package list; a complete DIR is left alone.
# Needs the network to Debian's mirror on first use (about 13 MB).
set -eu

ARCH=${1:?usage: sysroot.sh armhf|arm64 DIR}
DIR=${2:?usage: sysroot.sh armhf|arm64 DIR}
PKGS="libc6-dev libssl-dev libdb5.3-dev libc-ares-dev libsasl2-dev libsasl2-modules"

case "$ARCH" in
armhf)	TOOLS="gcc-arm-linux-gnueabihf qemu-user" ;;
arm64)	TOOLS="gcc-aarch64-linux-gnu qemu-user" ;;
*)	echo "sysroot.sh: ARCH must be armhf or arm64" >&2; exit 2 ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=""
for p in $TOOLS; do
	dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "sysroot.sh: installing:$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $missing </dev/null
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)	# apt wants absolute paths
if [ -f "$DIR/.stamp" ] && [ "$(cat "$DIR/.stamp")" = "$PKGS" ]; then
	exit 0
fi

echo "sysroot.sh: building $DIR from Debian's $ARCH packages"
rm -rf "$DIR" "$DIR.apt"
A=$DIR.apt
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/etc" "$DIR"
: >"$A/status"
# the host's Debian sources and keys, whatever the host's own architecture
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	cp /etc/apt/sources.list.d/debian.sources "$A/etc/"
fi
if [ -f /etc/apt/sources.list ]; then
	grep -v 'packages.cloud.google\|nodesource' /etc/apt/sources.list \
	    >"$A/etc/sources.list" || true
else
	: >"$A/etc/sources.list"
fi
set -- -o APT::Architecture="$ARCH" -o APT::Architectures::="$ARCH" \
    -o Dir::State="$A" -o Dir::State::Lists="$A/lists" \
    -o Dir::State::status="$A/status" -o Dir::Cache="$A/cache" \
    -o Dir::Etc::SourceList="$A/etc/sources.list" \
    -o Dir::Etc::SourceParts="$A/etc" \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null \
    -o Debug::NoLocking=1 -o APT::Install-Recommends=0 \
    -o APT::Sandbox::User=root -q
# a mirror in mid-sync (seen: the armhf security index) fails one index;
# the others are kept and the packages come from them: warn, go on
if ! apt-get "$@" update </dev/null >"$A/update.log" 2>&1; then
	echo "sysroot.sh: warning: apt-get update reported errors:" >&2
	grep '^E:' "$A/update.log" | head -n 3 >&2
fi
# shellcheck disable=SC2086
apt-get "$@" -y --download-only install $PKGS </dev/null >"$A/install.log" 2>&1 ||
    { cat "$A/install.log" >&2; exit 1; }

for deb in "$A"/cache/archives/*.deb; do
	dpkg-deb -x "$deb" "$DIR"
done

# absolute links (e.g. usr/lib/T/libfoo.so -> /lib/T/libfoo.so.1) would
# point at the host's files: make them relative to their own directory
find "$DIR" -type l | while read -r l; do
	t=$(readlink "$l")
	case "$t" in
	/*)	rel=$(realpath -m --relative-to="$(dirname "$l")" "$DIR$t")
		ln -sfn "$rel" "$l" ;;
	esac
done

rm -rf "$A"
echo "$PKGS" >"$DIR/.stamp"
echo "sysroot.sh: $DIR ready ($(du -sh "$DIR" | cut -f1))"
