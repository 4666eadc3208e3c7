#!/bin/sh
# SPDX-License-Identifier: ISC
# init/synology/spk.sh - a Synology DSM 7 package of the static build, for
# `make spk` (init/package.mk; README "Synology DSM").
#
#   sh init/synology/spk.sh BINDIR OUTDIR NAME "DSM ARCHES" VERSION
#
# BINDIR is a static multi-call build's bin/.  Writes
# OUTDIR/facteur-VERSION-NAME.spk, an uncompressed tar of:
#   INFO                  init/synology/INFO with version, arch, checksum
#                         (md5 of package.tgz) and extractsize filled in
#   package.tgz           becomes /var/packages/facteur/target:
#                           bin/facteur, bin/facteur-* links
#                           etc/init.d/facteur (the sysv script),
#                           etc/facteur.conf.example, port_conf/facteur.sc,
#                           share/public_suffix_list.dat (for DMARC)
#   scripts/              start-stop-status, postinst (first install:
#                         facteur-keytool setup), the other hooks empty
#   conf/privilege        run as the package's own user
#   conf/resource         the ports for DSM's firewall (port_conf/facteur.sc)
#   WIZARD_UIFILES/install_uifile   asks the domain and the first address
#   PACKAGE_ICON.PNG, PACKAGE_ICON_256.PNG   drawn by icon.py
set -eu

BIN=${1:?usage: spk.sh BINDIR OUTDIR NAME ARCHES VERSION}
OUT=${2:?}
NAME=${3:?}
ARCHES=${4:?}
VERSION=${5:?}
S=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$S/../.." && pwd)
. "$SRC/init/pkglib.sh"
pkg_begin "$BIN" "$2"
T=$W/target
P=$W/spk

# --- package.tgz ---
mkdir -p "$T/bin" "$T/etc/init.d" "$T/port_conf"
cp "$BIN/facteur" "$T/bin/facteur"
chmod 755 "$T/bin/facteur"
for f in "$BIN"/facteur-*; do
	ln -s facteur "$T/bin/${f##*/}"
done
sed -e 's|@SBINDIR@|/var/packages/facteur/target/bin|g' \
    -e 's|@SYSCONFDIR@|/var/packages/facteur/var|g' \
    "$SRC/init/facteur.init" >"$T/etc/init.d/facteur"
chmod 755 "$T/etc/init.d/facteur"
install -m 644 "$SRC/conf/facteur.conf.example" "$T/etc/facteur.conf.example"
install -m 644 "$S/facteur.sc" "$T/port_conf/facteur.sc"
pkg_psl "$T/share"
mkdir -p "$P"
pkg_tar "$T" | gzip -9n >"$P/package.tgz"

# --- the rest ---
mkdir -p "$P/scripts" "$P/conf" "$P/WIZARD_UIFILES"
install -m 755 "$S/scripts/start-stop-status" "$S/scripts/postinst" "$P/scripts/"
for h in preinst preuninst postuninst preupgrade postupgrade; do
	printf '#!/bin/sh\n# %s: nothing to do (the data in var/ is kept on upgrade)\nexit 0\n' \
	    "$h" >"$P/scripts/$h"
	chmod 755 "$P/scripts/$h"
done
install -m 644 "$S/conf/privilege" "$S/conf/resource" "$P/conf/"
install -m 644 "$S/WIZARD_UIFILES/install_uifile" "$P/WIZARD_UIFILES/"
python3 "$S/icon.py" 64 "$P/PACKAGE_ICON.PNG"
python3 "$S/icon.py" 256 "$P/PACKAGE_ICON_256.PNG"
sum=$(md5sum "$P/package.tgz" | cut -d' ' -f1)
kb=$(( ($(du -sb "$T" | cut -f1) + 1023) / 1024 ))
sed -e "s|^version=.*|version=\"$VERSION\"|" -e "s|^arch=.*|arch=\"$ARCHES\"|" \
    "$S/INFO" >"$P/INFO"
printf 'checksum="%s"\nextractsize="%s"\n' "$sum" "$kb" >>"$P/INFO"

PKG=$OUT/facteur-$VERSION-$NAME.spk
(cd "$P" && LC_ALL=C tar --format=gnu --owner=0 --group=0 --numeric-owner \
    --mtime="@$MTIME" -cf "$PKG.tmp" INFO package.tgz scripts conf \
    WIZARD_UIFILES PACKAGE_ICON.PNG PACKAGE_ICON_256.PNG)
mv "$PKG.tmp" "$PKG"
echo "$PKG $(wc -c <"$PKG") bytes"
