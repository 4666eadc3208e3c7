#!/bin/sh
# SPDX-License-Identifier: ISC
# init/musl-deps.sh - OpenSSL, c-ares, Berkeley DB and libsasl2 as static
# musl libraries, for `make STATIC=1 LIBC=musl [CROSS=...]` (init/module.mk;
# README "Installing on a box").
#
#   sh init/musl-deps.sh DIR [ARCH]        ARCH: x86_64 (default), armhf, arm64
#
# Builds, once, into DIR/include and DIR/lib (with pkg-config files in
# DIR/lib/pkgconfig) from the Debian bookworm packages of their code,
# fetched by apt-get in download-only mode (PKG/bookworm) with a private
# deb-src list (the system's apt configuration is not touched; this step
# needs the Debian mirror, as apt itself does), unpacked with dpkg-source -x (the Debian
# patches applied), then configured by the minimal recipes below with
# a musl-gcc: static only, no programs, no tests, no
# documentation, and only what facteur uses (libsasl2: the PLAIN and
# LOGIN mechanisms, no sasldb; OpenSSL: no engines, no dlopen).  Sources
# that are already in DIR/src are not fetched again (put the .dsc and its
# files there to build offline).  The four are built at the same time
# (each with make -j$JOBS); DIR/.done-PKG marks each one done and DIR/.done
# all four: a second run does nothing; remove DIR to rebuild
# (MUSL_ONLY="openssl db5.3" builds only those).  Logs: DIR/log/PKG.log.
#
# The musl C library: x86_64 uses Debian's musl-gcc (musl-tools).  Debian
# has no musl cross compiler, but it does build musl itself for armhf and
# arm64: for those ARCHes this script downloads Debian's musl-dev:ARCH
# binary package (libc.a, crt*.o, headers; the same musl 1.2.3 as
# musl-tools) with apt-get download on a private state directory for that
# architecture (no `dpkg --add-architecture`, nothing installed), unpacks
# it into DIR/musl with dpkg-deb -x, and writes DIR/bin/musl-gcc: Debian's
# arm-linux-gnueabihf-gcc or aarch64-linux-gnu-gcc (gcc-*-cross, glibc's
# cross compilers: their libgcc and crtbegin do not depend on the C
# library) run with a copy of that package's musl-gcc.specs whose paths
# point into DIR/musl, the way musl-tools' musl-gcc runs the host's gcc,
# and always with -static (Debian's musl-dev:ARCH has no libc.so).
#
# The kernel's UAPI headers (linux/, asm/, asm-generic/, mtd/), which musl
# does not ship, are copied into DIR/include, as Alpine's linux-headers
# puts them beside musl's: from this machine's linux-libc-dev for x86_64,
# from Debian's linux-libc-dev:ARCH (downloaded with musl-dev) for ARM.
# facteur needs <linux/io_uring.h> from them (lib/fsyncv.c); a DIR built
# before they were added gets them on the next run.
set -eu

D=${1:?usage: musl-deps.sh DIR [x86_64|armhf|arm64]}
ARCH=${2:-x86_64}
# per ARCH: the cross compiler (empty: musl-tools' musl-gcc), Debian's
# triplets of its glibc and musl, OpenSSL's target, autoconf's --host
case "$ARCH" in
x86_64)	XGCC=""; GNU=x86_64-linux-gnu; MUSL=x86_64-linux-musl
	OSSL=linux-x86_64; HOST=x86_64-linux-musl ;;
armhf)	XGCC=arm-linux-gnueabihf-gcc; GNU=arm-linux-gnueabihf
	MUSL=arm-linux-musleabihf; OSSL=linux-armv4; HOST=$GNU ;;
arm64)	XGCC=aarch64-linux-gnu-gcc; GNU=aarch64-linux-gnu
	MUSL=aarch64-linux-musl; OSSL=linux-aarch64; HOST=$GNU ;;
*)	echo "$0: ARCH=$ARCH: expected x86_64, armhf or arm64" >&2; exit 2 ;;
esac
mkdir -p "$D"
D=$(cd "$D" && pwd)
[ -f "$D/.done" ] && [ -f "$D/.done-uapi" ] && exit 0
# DIR may be a cache shared by several checkouts (init/module.mk): one
# build at a time, a second waits for it and then finds it done
if command -v flock >/dev/null 2>&1; then
	exec 9>"$D/.lock"
	flock 9
	[ -f "$D/.done" ] && [ -f "$D/.done-uapi" ] && exit 0
fi
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SRC=$D/src
P=$D		# the prefix: include/, lib/
mkdir -p "$SRC" "$D/log" "$D/apt/lists/partial" "$P/lib/pkgconfig" "$P/include"

# fetch_bin PKG... - Debian's $ARCH binary packages PKG into $SRC (apt on
# a private state directory, as init/sysroot.sh does)
fetch_bin() {
	A=$D/apt-$ARCH
	mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/etc"
	: >"$A/status"
	[ -f /etc/apt/sources.list.d/debian.sources ] &&
	    cp /etc/apt/sources.list.d/debian.sources "$A/etc/"
	if [ -f /etc/apt/sources.list ]; then
		grep '^deb .*debian' /etc/apt/sources.list >"$A/etc/sources.list" || :
	else
		: >"$A/etc/sources.list"
	fi
	set -- "$@" -- -o APT::Architecture="$ARCH" \
	    -o APT::Architectures::="$ARCH" -o Dir::State="$A" \
	    -o Dir::State::Lists="$A/lists" -o Dir::State::status="$A/status" \
	    -o Dir::Cache="$A/cache" -o Dir::Etc::SourceList="$A/etc/sources.list" \
	    -o Dir::Etc::SourceParts="$A/etc" -o Dir::Etc::Preferences=/dev/null \
	    -o Dir::Etc::PreferencesParts=/dev/null -o Debug::NoLocking=1 \
	    -o APT::Sandbox::User=root -q
	pkgs=""
	while [ "$1" != -- ]; do pkgs="$pkgs $1"; shift; done
	shift
	apt-get "$@" update </dev/null >"$D/log/apt-$ARCH.log" 2>&1 || :
	# shellcheck disable=SC2086
	(cd "$SRC" && apt-get "$@" download $pkgs) </dev/null \
	    >>"$D/log/apt-$ARCH.log" 2>&1 || {
		echo "$0: apt-get download$pkgs for $ARCH failed" \
		    "(see $D/log/apt-$ARCH.log)" >&2
		exit 1
	}
	rm -rf "$A"
}

# Debian's libsasl2 patches change its configure.ac and Makefile.am, so
# its build reruns aclocal, automake and autoconf, as Debian's own does
if [ ! -f "$D/.done-cyrus-sasl2" ]; then
	for t in aclocal automake autoconf libtoolize; do
		command -v $t >/dev/null || {
			echo "$0: no $t: apt-get install autoconf automake libtool" >&2
			exit 1
		}
	done
fi

# the C library and the compiler driver
if [ -z "$XGCC" ]; then
	command -v musl-gcc >/dev/null || {
		echo "$0: no musl-gcc: apt-get install musl-tools" >&2
		exit 1
	}
	export CC=musl-gcc AR=ar RANLIB=ranlib
	UAPI=/usr/include
else
	command -v "$XGCC" >/dev/null || {
		echo "$0: no $XGCC: apt-get install gcc-$GNU" >&2
		exit 1
	}
	if [ ! -f "$D/.done-musl" ]; then
		ls "$SRC"/musl-dev_*_"$ARCH".deb "$SRC"/linux-libc-dev_*_"$ARCH".deb \
		    >/dev/null 2>&1 || fetch_bin musl-dev linux-libc-dev
		rm -rf "$D/musl"
		dpkg-deb -x "$(ls "$SRC"/musl-dev_*_"$ARCH".deb | head -n 1)" "$D/musl"
		mkdir -p "$D/bin"
		sed -e "s|/usr/include/$MUSL|$D/musl/usr/include/$MUSL|g" \
		    -e "s|/usr/lib/$MUSL|$D/musl/usr/lib/$MUSL|g" \
		    "$D/musl/usr/lib/$MUSL/musl-gcc.specs" >"$D/musl-gcc.specs"
		printf '#!/bin/sh\n# %s with musl %s (init/musl-deps.sh)\nexec %s -static "$@" -specs "%s"\n' \
		    "$XGCC" "$ARCH" "$XGCC" "$D/musl-gcc.specs" >"$D/bin/musl-gcc"
		chmod 755 "$D/bin/musl-gcc"
		: >"$D/.done-musl"
	fi
	export CC="$D/bin/musl-gcc" AR=$GNU-ar RANLIB=$GNU-ranlib
	UAPI=$D/uapi.tmp/usr/include
	if [ ! -f "$D/.done-uapi" ]; then
		rm -rf "$D/uapi.tmp"
		dpkg-deb -x "$(ls "$SRC"/linux-libc-dev_*_"$ARCH".deb | head -n 1)" \
		    "$D/uapi.tmp"
	fi
fi

# the kernel's UAPI headers, for facteur (<linux/io_uring.h>) and for a
# few of OpenSSL's and DB's configure probes: musl-gcc sees musl's only
if [ ! -f "$D/.done-uapi" ]; then
	for h in linux asm-generic mtd; do
		rm -rf "$P/include/$h"
		cp -RL "$UAPI/$h" "$P/include/$h"
	done
	rm -rf "$P/include/asm"
	cp -RL "$UAPI/$GNU/asm" "$P/include/asm"
	rm -rf "$D/uapi.tmp"
	: >"$D/.done-uapi"
fi
[ -f "$D/.done" ] && exit 0
echo "musl-deps: building for $ARCH into $D (once; tens of minutes)"
# the deps see them alone (not their own headers in DIR/include)
mkdir -p "$D/kernel-include"
for h in linux asm asm-generic mtd; do
	[ -e "$D/kernel-include/$h" ] || ln -s "../include/$h" "$D/kernel-include/$h"
done
# nor <sys/queue.h>, which facteur uses: the system's is macros only
mkdir -p "$P/include/sys"
[ -e "$P/include/sys/queue.h" ] ||
    cp /usr/include/x86_64-linux-gnu/sys/queue.h "$P/include/sys/queue.h"
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
(cd "$W" && ./configure --host=$HOST --prefix="$P" \
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
(cd "$W" && ./Configure $OSSL --prefix="$P" --libdir=lib \
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
# its config.sub (2010) knows no aarch64: a cross build takes the
# system's (autotools-dev) or else c-ares's
if [ -n "$XGCC" ]; then
	for f in config.sub config.guess; do
		if [ -f /usr/share/misc/$f ]; then
			cp /usr/share/misc/$f "$W/dist/$f"
		else
			tar -xzOf "$(ls "$SRC"/c-ares_*.orig.tar.gz | head -n 1)" \
			    --wildcards --no-wildcards-match-slash "*/$f" \
			    >"$W/dist/$f"
		fi
	done
fi
# (its config.sub predates musl: x86_64 is configured as a native
# build, ARM as a cross build for the glibc triplet, which it knows)
(cd "$W/build_musl" && ../dist/configure \
    ${XGCC:+--host=$HOST --build=x86_64-pc-linux-gnu} \
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
(cd "$W" && ./configure --host=$HOST --prefix="$P" \
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
rm -rf "$SRC"/build-* "$D/apt"	# keep the sources, not the trees
: >"$D/.done"
echo "musl-deps: $D ready"
