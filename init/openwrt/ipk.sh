#!/bin/sh
# SPDX-License-Identifier: ISC
# init/openwrt/ipk.sh - an OpenWrt package of the static build, for
# `make ipk` (init/package.mk; README "OpenWrt").
#
#   sh init/openwrt/ipk.sh BINDIR OUTDIR ARCH VERSION
#
# BINDIR is a static multi-call build's bin/ (facteur and its facteur-*
# links).  Writes OUTDIR/facteur_VERSION_ARCH.ipk holding debian-binary,
# control.tar.gz and data.tar.gz: by default in a gzipped tar, as
# OpenWrt's ipkg-build makes it and the only form OpenWrt's opkg (opkg-lede,
# libbb/unarchive.c deb_extract) reads; with IPK_OUTER=ar in an ar archive
# (dpkg-style member names), the form of Debian packages, which Yocto's
# opkg and dpkg-deb read.
#
#   data:    /usr/sbin/facteur, facteur-* links
#            /etc/init.d/facteur              procd script (facteur.init here)
#            /etc/facteur/facteur.conf        placeholder, a conffile, until
#                                             postinst's `facteur-keytool setup`
#            /etc/facteur/facteur.conf.example
#            /lib/upgrade/keep.d/facteur      sysupgrade keeps /srv/facteur
#            /usr/share/facteur/public_suffix_list.dat  for DMARC (the build
#                                             host's, Debian's publicsuffix)
#   control: control, conffiles, postinst (account, first set-up, then
#            OpenWrt's default_postinst: enable and start), prerm
# Everything is owned by root, dates are the last commit's (reproducible).
set -eu

BIN=${1:?usage: ipk.sh BINDIR OUTDIR ARCH VERSION}
OUT=${2:?}
ARCH=${3:?}
VERSION=${4:?}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/init/pkglib.sh"
pkg_begin "$BIN" "$2"
D=$W/data
C=$W/control

# --- data ---
mkdir -p "$D/usr/sbin" "$D/etc/init.d" "$D/etc/facteur" "$D/lib/upgrade/keep.d"
cp "$BIN/facteur" "$D/usr/sbin/facteur"
chmod 755 "$D/usr/sbin/facteur"
for f in "$BIN"/facteur-*; do
	ln -s facteur "$D/usr/sbin/${f##*/}"
done
sed -e 's|@SBINDIR@|/usr/sbin|g' -e 's|@SYSCONFDIR@|/etc|g' \
    "$SRC/init/openwrt/facteur.init" >"$D/etc/init.d/facteur"
chmod 755 "$D/etc/init.d/facteur"
cp "$SRC/init/openwrt/facteur.conf.placeholder" "$D/etc/facteur/facteur.conf"
cp "$SRC/conf/facteur.conf.example" "$D/etc/facteur/facteur.conf.example"
chmod 644 "$D/etc/facteur/facteur.conf" "$D/etc/facteur/facteur.conf.example"
echo /srv/facteur/ >"$D/lib/upgrade/keep.d/facteur"
pkg_psl "$D/usr/share/facteur"

# --- control ---
mkdir -p "$C"
size=$(du -sb "$D" | cut -f1)
cat >"$C/control" <<CONTROL
Package: facteur
Version: $VERSION
Source: https://example.org/facteur
SourceName: facteur
License: ISC
LicenseFiles: README.md
Section: mail
Maintainer: facteur <postmaster@example.org>
Architecture: $ARCH
Installed-Size: $size
Description: Minimal mail server: SMTP, submission, IMAP, DKIM.
 facteur-smtpd, facteur-imapd, facteur-authd and facteur-keytool in one
 static binary (OpenSSL, Berkeley DB 5.3, c-ares, Cyrus SASL linked in).
CONTROL
echo /etc/facteur/facteur.conf >"$C/conffiles"
cp "$SRC/init/openwrt/postinst" "$C/postinst"
cp "$SRC/init/openwrt/prerm" "$C/prerm"
chmod 755 "$C/postinst" "$C/prerm"

pkg_tar "$D" | gzip -9n >"$W/data.tar.gz"
pkg_tar "$C" | gzip -9n >"$W/control.tar.gz"
echo 2.0 >"$W/debian-binary"

# ar_member NAME - one member of an ar archive (header, data, pad to even)
ar_member() {
	n=$(wc -c <"$W/$1")
	printf '%-16s%-12s%-6s%-6s%-8s%-10s`\n' "$1" "$MTIME" 0 0 100644 "$n"
	cat "$W/$1"
	[ $((n % 2)) -eq 0 ] || printf '\n'
}
PKG=$OUT/facteur_${VERSION}_$ARCH.ipk
if [ "${IPK_OUTER:-tgz}" = ar ]; then
	{
		printf '!<arch>\n'
		ar_member debian-binary
		ar_member control.tar.gz
		ar_member data.tar.gz
	} >"$PKG.tmp"
else
	(cd "$W" && tar --format=gnu --owner=0 --group=0 --numeric-owner \
	    --mtime="@$MTIME" -cf - ./debian-binary ./data.tar.gz \
	    ./control.tar.gz) | gzip -9n >"$PKG.tmp"
fi
mv "$PKG.tmp" "$PKG"
echo "$PKG $(wc -c <"$PKG") bytes"
