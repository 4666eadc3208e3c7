#!/bin/sh
# SPDX-License-Identifier: ISC
# init/install.sh - `make install` (init/module.mk passes the variables).
#
#   B          build directory whose bin/facteur-* are installed
#   DESTDIR    staging root (packages); empty: the live system
#   PREFIX     /usr/local; SBINDIR ($PREFIX/sbin), SYSCONFDIR (/etc whatever
#              PREFIX is: the programs' default -c is /etc/facteur/facteur.conf
#              and init reads /etc/init.d), LOCALSTATEDIR, RUNSTATEDIR
#   INIT       which init files: any of systemd sysv openwrt synology
#              (default "systemd sysv")
#
# Lays out:
#   SBINDIR/facteur-*                          every program that was built
#                                              (MULTICALL: links to SBINDIR/facteur)
#   SYSCONFDIR/facteur/facteur.conf.example    always (and facteur.conf, mode
#                                              0644, only if there is none:
#                                              conf/facteur.conf.placeholder,
#                                              which `keytool setup` replaces)
#   systemd: PREFIX/lib/systemd/system/facteur-{authd,smtpd,imapd}.service
#            and facteur-acme.{service,timer} (certificate renewal)
#            PREFIX/lib/sysusers.d/facteur.conf
#   sysv:    SYSCONFDIR/init.d/facteur
#   openwrt: SYSCONFDIR/init.d/facteur (procd)
#   synology: PREFIX/share/facteur/synology/{INFO,conf/,scripts/} and the
#            generic script as SYSCONFDIR/init.d/facteur, to pack with the
#            binaries (README "Installing on a box")
#   PREFIX/share/doc/facteur/README.md
# @SBINDIR@, @SYSCONFDIR@ and @DOCDIR@ in init files become the real paths.
# Directories for state, mail and sockets are not made here: each daemon
# creates what is missing at its first start (lib/daemon.c).
set -eu

: "${B:=build}" "${PREFIX:=/usr/local}" "${DESTDIR:=}"
: "${SBINDIR:=$PREFIX/sbin}" "${INIT:=systemd sysv}" "${INSTALL:=install}"
DOCDIR=$PREFIX/share/doc/facteur
D=$DESTDIR
# not PREFIX/etc: a /usr/local install would put facteur.conf where no
# program looks by default and the sysv script where no init runs it.
# An upgrade of an install made before (which used PREFIX/etc) whose
# facteur.conf there is set up keeps it there, so that its units and
# script go on naming the file the admin set up.
if [ -z "${SYSCONFDIR:-}" ]; then
	SYSCONFDIR=/etc
	old=$D$PREFIX/etc/facteur/facteur.conf
	if [ "$PREFIX" != /usr ] && [ -f "$old" ] &&
	    ! grep -q '^# facteur: not set up yet' "$old"; then
		SYSCONFDIR=$PREFIX/etc
		echo "install: keeping $PREFIX/etc/facteur/facteur.conf, set up" \
		    "by an earlier install (SYSCONFDIR=/etc to move to" \
		    "/etc/facteur)" >&2
	fi
fi

# subst SRC DEST MODE - copy with the paths filled in
subst() {
	mkdir -p "$(dirname "$2")"
	sed -e "s|@SBINDIR@|$SBINDIR|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" \
	    -e "s|@DOCDIR@|$DOCDIR|g" "$1" >"$2.tmp"
	chmod "$3" "$2.tmp"
	mv -f "$2.tmp" "$2"
}

n=0
# MULTICALL=1 builds: bin/facteur and facteur-* links to it, kept so
if [ -f "$B/bin/facteur" ] && [ ! -L "$B/bin/facteur" ]; then
	$INSTALL -D -m 755 "$B/bin/facteur" "$D$SBINDIR/facteur"
fi
for f in "$B"/bin/facteur-*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	if [ -L "$f" ] && [ "$(readlink "$f")" = facteur ]; then
		mkdir -p "$D$SBINDIR"
		ln -sf facteur "$D$SBINDIR/${f##*/}"
	else
		$INSTALL -D -m 755 "$f" "$D$SBINDIR/${f##*/}"
	fi
	n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
	echo "install: no programs in $B/bin: run make first" >&2
	exit 1
fi

$INSTALL -D -m 644 conf/facteur.conf.example "$D$SYSCONFDIR/facteur/facteur.conf.example"
if [ ! -e "$D$SYSCONFDIR/facteur/facteur.conf" ]; then
	# a placeholder that `facteur-keytool setup` replaces without --force
	$INSTALL -m 644 conf/facteur.conf.placeholder "$D$SYSCONFDIR/facteur/facteur.conf"
fi
$INSTALL -D -m 644 README.md "$D$DOCDIR/README.md"

for kind in $INIT; do
	case "$kind" in
	systemd)
		for d in authd smtpd imapd; do
			subst "init/systemd/facteur-$d.service" \
			    "$D$PREFIX/lib/systemd/system/facteur-$d.service" 644
		done
		for u in facteur-acme.service facteur-acme.timer; do
			subst "init/systemd/$u" \
			    "$D$PREFIX/lib/systemd/system/$u" 644
		done
		subst init/systemd/facteur.sysusers \
		    "$D$PREFIX/lib/sysusers.d/facteur.conf" 644 ;;
	sysv)
		subst init/facteur.init "$D$SYSCONFDIR/init.d/facteur" 755 ;;
	openwrt)
		subst init/openwrt/facteur.init "$D$SYSCONFDIR/init.d/facteur" 755 ;;
	synology)
		S=$D$PREFIX/share/facteur/synology
		subst init/synology/INFO "$S/INFO" 644
		subst init/synology/conf/privilege "$S/conf/privilege" 644
		subst init/synology/scripts/start-stop-status \
		    "$S/scripts/start-stop-status" 755
		subst init/facteur.init "$D$SYSCONFDIR/init.d/facteur" 755 ;;
	*)
		echo "install: INIT=$kind: expected systemd, sysv, openwrt or synology" >&2
		exit 2 ;;
	esac
done
echo "installed $n programs into $D$SBINDIR, init files: $INIT"
