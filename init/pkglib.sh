# SPDX-License-Identifier: ISC
# init/pkglib.sh - shared by init/openwrt/ipk.sh and init/synology/spk.sh
# (sourced after `set -eu`, with SRC the repository root).
#
#   pkg_begin BINDIR OUTDIR   checks BINDIR holds a static multi-call
#                             build; sets MTIME (the last commit's date, for
#                             reproducible archives), OUT (absolute, made)
#                             and W (a work directory removed on exit)
#   pkg_psl DIR               copies the build host's Public Suffix List
#                             (Debian's publicsuffix) into DIR for DMARC
#   pkg_tar DIR               a reproducible tar of DIR's contents (./...,
#                             root-owned, sorted) on stdout

pkg_begin() {
	[ -f "$1/facteur" ] && [ ! -L "$1/facteur" ] || {
		echo "$0: $1/facteur: expected a static multi-call build" >&2
		exit 1
	}
	MTIME=$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || echo 0)
	mkdir -p "$2"
	OUT=$(cd "$2" && pwd)
	W=$(mktemp -d "${TMPDIR:-/tmp}/facteur-pkg.XXXXXX")
	trap 'rm -rf "$W"' EXIT
}

pkg_tar() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
	    tar --format=gnu --no-recursion --owner=0 --group=0 \
	    --numeric-owner --mtime="@$MTIME" -cf - -T -)
}

pkg_psl() {
	psl=/usr/share/publicsuffix/public_suffix_list.dat
	if [ -r "$psl" ]; then
		mkdir -p "$1"
		install -m 644 "$psl" "$1/public_suffix_list.dat"
	else
		echo "$0: warning: no $psl (Debian's publicsuffix): the package" \
		    "sets up DMARC off" >&2
	fi
}
