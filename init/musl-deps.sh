#!/bin/sh
# SPDX-License-Identifier: ISC
# init/musl-deps.sh - OpenSSL, c-ares, Berkeley DB and libsasl2 as static
# musl libraries, for `make STATIC=1 LIBC=musl` (init/module.mk; README
# "Installing on a box").
#
#   sh init/musl-deps.sh DIR
#
# Builds, once, into DIR/include and DIR/lib (with pkg-config files in
# DIR/lib/pkgconfig) from the Debian bookworm packages of their code,
# fetched by apt-get in download-only mode (PKG/bookworm) with a private
# deb-src list (the system's apt configuration is not touched; this step
# needs the Debian mirror, as apt itself does), unpacked with dpkg-source -x (the Debian
# patches applied), then configured by the minimal recipes below with
# Debian's musl-gcc (musl-tools): static only, no programs, no tests, no
# documentation, and only what facteur uses (libsasl2: the PLAIN and
# LOGIN mechanisms, no sasldb; OpenSSL: no engines, no dlopen).  Sources
# that are already in DIR/src are not fetched again (put the .dsc and its
# files there to build offline).  The four are built at the same time
# (each with make -j$JOBS); DIR/.done-PKG marks each one done and DIR/.done
# all four: a second run does nothing; remove DIR to rebuild
# (MUSL_ONLY="openssl db5.3" builds only those).  Logs: DIR/log/PKG.log.
set -eu

D=${1:?usage: musl-deps.sh DIR}
mkdir -p "$D"
D=$(cd "$D" && pwd)
[ -f "$D/.done" ] && exit 0
# DIR may be a cache shared by several checkouts (init/module.mk): one
# build at a time, a second waits for it and then finds it done
if command -v flock >/dev/null 2>&1; then
	exec 9>"$D/.lock"
	flock 9
	[ -f "$D/.done" ] && exit 0
fi
echo "musl-deps: building into $D (once; tens of minutes)"
command -v musl-gcc >/dev/null || {
	echo "$0: no musl-gcc: apt-get install musl-tools" >&2
	exit 1
}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SRC=$D/src
P=$D		# the prefix: include/, lib/
mkdir -p "$SRC" "$D/log" "$D/apt/lists/partial" "$P/lib/pkgconfig" "$P/include"
export CC=musl-gcc AR=ar RANLIB=ranlib
# musl-gcc sees musl's headers only: OpenSSL's and DB's configure scripts
# want the kernel's <linux/*.h> and <asm/*.h> for a few probes
mkdir -p "$D/kernel-include"
for h in linux asm asm-generic mtd; do
	for dir in /usr/include/$h /usr/include/x86_64-linux-gnu/$h; do
		[ -d "$dir" ] && [ ! -e "$D/kernel-include/$h" ] &&
		    ln -s "$dir" "$D/kernel-include/$h"
	done
done
# nor <sys/queue.h>, which facteur uses: the system's is macros only
mkdir -p "$P/include/sys"
[ -e "$P/include/sys/queue.h" ] ||
    ln -s /usr/include/x86_64-linux-gnu/sys/queue.h "$P/include/sys/queue.h"
export CFLAGS="-Os -fPIC -ffunction-sections -fdata-sections -isystem $D/kernel-include"

# fetch_only PKG - its source package into $SRC
fetch_only() {
	{
		printf 'deb-src http://deb.debian.org/debian bookworm main\n' \
		    >"$D/apt/sources.list"
		O="-o Dir::Etc::SourceList=$D/apt/sources.list
		    -o Dir::Etc::SourceParts=/nonexistent
		    -o Dir::State::Lists=$D/apt/lists
		    -o Dir::Cache=$D/apt"
		# shellcheck disable=SC2086
		[ -f "$D/apt/updated" ] || {
			apt-get $O update >"$D/log/apt.log" 2>&1 &&
			    : >"$D/apt/updated"
		}
		# shellcheck disable=SC2086
		(cd "$SRC" && apt-get $O source --download-only "$1/bookworm") \
		    >>"$D/log/apt.log" 2>&1 || {
			echo "$0: apt-get source $1 failed (see $D/log/apt.log)" >&2
			exit 1
		}
	}
}

# fetch PKG - unpack its source package afresh into W=$SRC/build-PKG
fetch() {
	dsc=$(ls "$SRC/$1"_*.dsc | head -n 1)
	W=$SRC/build-$1
	rm -rf "$W"
	dpkg-source --no-check -x "$dsc" "$W" >>"$D/log/$1.log" 2>&1
}

die() {
	echo "$0: $1 failed; the end of $D/log/$1.log:" >&2
	tail -n 30 "$D/log/$1.log" >&2
	exit 1
}

# step NAME - announce a library and time it; false if it is built
step() {
	[ -f "$D/.done-$1" ] && return 1
	case " ${MUSL_ONLY:-$1} " in *" $1 "*) ;; *) return 1 ;; esac
	echo "musl-deps: $1 ..."
	T0=$(date +%s)
}
done_step() {
	: >"$D/.done-$1"
	echo "musl-deps: $1 done in $(( $(date +%s) - T0 )) s"
}

# fetch first, one at a time (apt's lists are shared)
for pkg in c-ares openssl db5.3 cyrus-sasl2; do
	[ -f "$D/.done-$pkg" ] || ls "$SRC/$pkg"_*.dsc >/dev/null 2>&1 ||
	    fetch_only "$pkg"
done

build_cares() {
step c-ares || return 0
fetch c-ares
# the answers of its slowest probes (hundreds of compilations each), as
# musl's <sys/socket.h> and <netdb.h> declare them
(cd "$W" && ./configure --host=x86_64-linux-musl --prefix="$P" \
    --disable-shared --enable-static --disable-tests \
    curl_cv_func_recv_args='int,void *,size_t,int,ssize_t' \
    curl_cv_func_recvfrom_args='int,void *,size_t,int,struct sockaddr *,socklen_t *,ssize_t' \
    curl_cv_func_send_args='int,const void *,size_t,int,ssize_t' \
    curl_cv_func_getnameinfo_args='const struct sockaddr *,socklen_t,socklen_t,int' \
    && make -j"$JOBS" -C src/lib && make -C src/lib install \
    && make -C include install && install -m 644 libcares.pc "$P/lib/pkgconfig/") \
    >>"$D/log/c-ares.log" 2>&1 || die c-ares
done_step c-ares
}

# ---- OpenSSL ----
build_openssl() {
step openssl || return 0
fetch openssl
(cd "$W" && ./Configure linux-x86_64 --prefix="$P" --libdir=lib \
    --openssldir=/etc/ssl no-shared no-tests no-dso no-engine \
    no-afalgeng no-comp no-ssl3 no-idea no-mdc2 no-rc5 no-whirlpool \
    no-sm2 no-sm3 no-sm4 no-aria no-camellia no-seed no-srp no-cms \
    no-ts no-ocsp no-ct \
    && make -j"$JOBS" build_libs && make install_dev) \
    >>"$D/log/openssl.log" 2>&1 || die openssl
done_step openssl
}

# ---- Berkeley DB 5.3 ----
build_db() {
step db5.3 || return 0
fetch db5.3
mkdir -p "$W/build_musl"
# (its config.sub predates musl: configured as a native build)
(cd "$W/build_musl" && ../dist/configure \
    --prefix="$P" --disable-shared --enable-static --disable-cxx \
    --disable-java --disable-tcl --disable-sql --disable-replication \
    --disable-heap --disable-partition --disable-compression \
    --disable-verify --disable-hash --disable-queue \
    --with-mutex=POSIX/pthreads/library \
    && make -j"$JOBS" libdb.a && cp db.h "$P/include/db.h" \
    && cp libdb.a "$P/lib/libdb.a") \
    >>"$D/log/db5.3.log" 2>&1 || die db5.3
done_step db5.3
}

# ---- libsasl2 (PLAIN and LOGIN need no crypto library) ----
build_sasl() {
step cyrus-sasl2 || return 0
fetch cyrus-sasl2
(cd "$W" && ./configure --host=x86_64-linux-musl --prefix="$P" \
    --disable-shared --enable-static --with-dblib=none \
    --without-saslauthd --without-authdaemond --without-pwcheck \
    --disable-sample --disable-checkapop --disable-cram --disable-digest \
    --disable-scram --disable-otp --disable-gssapi --disable-gss_mutexes \
    --disable-krb4 --disable-anon --disable-ntlm --disable-passdss \
    --disable-sql --disable-ldapdb --disable-srp --enable-plain \
    --enable-login --without-des --without-openssl \
    && make -j"$JOBS" -C include && make -j"$JOBS" -C common \
    && make -j"$JOBS" -C plugins && make -j"$JOBS" -C lib \
    && make -C lib install && mkdir -p "$P/include/sasl" \
    && (cd include && install -m 644 sasl.h saslplug.h saslutil.h prop.h \
	hmac-md5.h md5.h md5global.h "$P/include/sasl/") \
    && install -m 644 libsasl2.pc "$P/lib/pkgconfig/") \
    >>"$D/log/cyrus-sasl2.log" 2>&1 || die cyrus-sasl2
done_step cyrus-sasl2
}

pids=""
for b in build_cares build_openssl build_db build_sasl; do
	$b &
	pids="$pids $!"
done
ok=1
for p in $pids; do
	wait "$p" || ok=""
done
[ -n "$ok" ] || exit 1
for pkg in c-ares openssl db5.3 cyrus-sasl2; do
	[ -f "$D/.done-$pkg" ] || exit 0	# MUSL_ONLY: not all of them
done
# relocatable: the pkg-config files find DIR from where they are
sed -i 's|^prefix=.*|prefix=${pcfiledir}/../..|' "$P"/lib/pkgconfig/*.pc
rm -rf "$SRC"/build-* "$D/apt/archives"	# keep the sources, not the trees
: >"$D/.done"
echo "musl-deps: $D ready"
