#!/bin/bash
# SPDX-License-Identifier: ISC
# tests/run_tests.sh - the driver behind `make check` (see tests/README.md).
#
# Builds build/ (gcc), build-san/ (gcc, ASan+UBSan), build-fuzz/ (clang,
# libFuzzer) and build-tiny-static/ (what the ipk and spk packages carry),
# then runs the suites in order, continuing after failures (cross and
# musl alongside integration, see alongside() below):
#
#   build        each of the three builds is one check
#   unit         build-san/test/NAME for NAME in $UNIT_TESTS
#   golden       tests/golden/NAME/CASE.in -> build-san/test/NAME CASE.in,
#                stdout compared with CASE.ref
#   fuzz         build-fuzz/fuzz/F, libFuzzer for $FUZZ_TIME s over a copy
#                of tests/fuzz/corpus/F/
#   replay       build-san/fuzz/F (gcc + replay_main.c) over the same corpus
#   integration  tests/integration/test_*.py (/usr/bin/python3) and test_*.sh
#   cross        the armhf cross build (build-armhf/, sysroot of Debian's
#                armhf packages) and its unit tests and replays under
#                qemu-arm, so that ARM never silently breaks
#   musl         the static musl build (build-musl-tiny-static/: musl-gcc
#                against OpenSSL, c-ares, DB and libsasl2 built for musl
#                into $MUSL_DEPS, by default the cache
#                ~/.cache/facteur/musl-deps that init/module.mk names) and
#                the integration tests $MUSL_INTEGRATION against it.
#                Building those libraries (`make musl-deps`: Debian's
#                source packages, fetched once) takes tens of minutes, more
#                than make check can spend: without them the suite says so
#                and is skipped, unless MUSL_DEPS_BUILD=1 asks to build
#                them here
#
# With CROSS=arm-linux-gnueabihf- or aarch64-linux-gnu- (make check
# CROSS=... [STATIC=1 [LIBC=musl]]) the builds are the sysroot and the cross build only, and the
# unit, golden, replay and integration suites run the cross binaries under
# qemu-user (-L the sysroot); the integration suite runs $CROSS_INTEGRATION
# (default: the tests listed below at CROSS_INTEGRATION), through wrapper
# scripts in the log directory that FACTEUR_BIN points to.  With STATIC=1
# too, the static (multi-call) build is tested, under qemu without -L.
#
# Every test prints "N passed, M failed" as its last such line; a test that
# prints none, exits non-zero with M = 0 or is killed counts one failure.
# The last line of the output is the total "N passed, M failed"; the exit
# status is 1 if anything failed.
#
# Environment: MAKE, UNIT_TESTS, FUZZ_TARGETS (from tests/module.mk),
# TESTS (space-separated glob patterns matched against names such as
# unit/test_buf, golden/conf, fuzz/fuzz_conf, replay/fuzz_conf,
# integration/test_smtp_receive.py), SUITES (default: all of the above),
# FUZZ_TIME (seconds per target, default 10), FUZZ_JOBS (targets fuzzed
# at once, default one per CPU), NOBUILD=1 (skip the builds),
# INTEGRATION_JOBS (integration tests run at once, default 3: most of
# their time is spent waiting on daemons and timeouts),
# INTEGRATION_TIMEOUT (seconds per integration test, default 420),
# ALONGSIDE=0 (the cross and musl suites after the integration suite,
# not alongside it),
# B_NORMAL, B_SAN, B_FUZZ (build directories, default build, build-san,
# build-fuzz), CROSS, B_CROSS (default build-armhf or build-arm64),
# CROSS_INTEGRATION (integration tests to run under qemu).

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
MAKE=${MAKE:-make}
UNIT_TESTS=${UNIT_TESTS:-}
FUZZ_TARGETS=${FUZZ_TARGETS:-}
TESTS=${TESTS:-}
CROSS=${CROSS:-}
if [ -n "$CROSS" ]; then
	SUITES=${SUITES:-build unit golden replay integration}
else
	SUITES=${SUITES:-build unit golden fuzz replay integration cross musl}
fi
FUZZ_TIME=${FUZZ_TIME:-10}
# build directories (override to keep out of someone else's way)
B_NORMAL=${B_NORMAL:-build}
B_SAN=${B_SAN:-build-san}
B_FUZZ=${B_FUZZ:-build-fuzz}
LOGDIR=$(mktemp -d /tmp/facteur-check.XXXXXX)
# the binaries the unit, golden and replay suites run, and how
T_DIR=$B_SAN
T_RUN=""

# cross_setup PREFIX - CROSS_ARCH, B_CROSS, SYSROOT and the qemu settings
# for the cross compiler PREFIX (init/module.mk chooses the same)
cross_setup() {
	case "$1" in
	aarch64*) CROSS_ARCH=arm64; QEMU=qemu-aarch64; QEMU_CPU_NAME=cortex-a53 ;;
	arm-*) CROSS_ARCH=armhf; QEMU=qemu-arm; QEMU_CPU_NAME=cortex-a7 ;;
	*) echo "run_tests.sh: CROSS=$1: expected arm-linux-gnueabihf- or aarch64-linux-gnu-" >&2
	   exit 2 ;;
	esac
	SYSROOT=$ROOT/build-sysroot/$CROSS_ARCH
	# qemu-user reads QEMU_LD_PREFIX (-L) and QEMU_CPU (-cpu); a static
	# build runs without the sysroot, which shows it needs nothing of it
	if [ -n "${STATIC:-}" ]; then
		B_CROSS=${B_CROSS:-build-$CROSS_ARCH${CROSS_LIBC:+-$CROSS_LIBC}-static}
		T_RUN="env QEMU_CPU=$QEMU_CPU_NAME $QEMU"
	else
		B_CROSS=${B_CROSS:-build-$CROSS_ARCH}
		T_RUN="env QEMU_LD_PREFIX=$SYSROOT QEMU_CPU=$QEMU_CPU_NAME $QEMU"
	fi
	T_DIR=$B_CROSS
}
# make check CROSS=... STATIC=1 LIBC=musl: the static musl build
# (build-ARCH-musl-static) and its packages (FACTEUR_PKG_LIBC)
CROSS_LIBC=""
if [ -n "$CROSS" ] && [ "${LIBC:-}" = musl ]; then
	CROSS_LIBC=musl
	export FACTEUR_PKG_LIBC=musl
fi
[ -n "$CROSS" ] && cross_setup "$CROSS"
# integration tests known to pass under qemu-user (memory and timing
# checks of the others assume native speed and native RSS; test_authd's
# "a delayed answer does not block other requests" fails at qemu's speed)
# (test_packages.py: that architecture's ipk and spk, FACTEUR_PKG_CROSS;
# with STATIC=1 also installed and run under qemu, FACTEUR_PKG_CROSS_INSTALL)
CROSS_INTEGRATION=${CROSS_INTEGRATION:-test_smtp_receive.py test_imap.py test_dkim_sign.py test_dkim_keytool.py test_init.py test_reload.py test_packages.py}

# integration tests that take longest, started first (a newline in the
# list is a separator too)
# (from the logs of make check of 2026-12-07, longest first: those over
# 10 s, about 60 % of the suite's time)
SLOW_FIRST="test_packages.py test_outbound.py test_imap.py test_milter.py
test_authd.py test_dkim_e2e.py test_fetch.py test_inbound.py
test_submission.py test_sendmail_restart.py test_power_cut.py
test_smtp_receive.py test_limits.py test_dkim_verify.py test_privsep.py
test_imaptest.py test_imap_rfc.py test_imap_login.py test_fetch_dovecot.py
test_init.py test_relay_ondemand.py test_relay.py"

total_pass=0
total_fail=0
summary=""
# what the builds of the suites run alongside the integration suite are
# run under (alongside() below); empty for the others
NICE=""

case " ${MAKEFLAGS:-} " in
*" -j"*|*" j"*|*"--jobserver"*) JOBS="" ;;
*) JOBS="-j$(nproc 2>/dev/null || echo 2)" ;;
esac

# selected NAME - true if NAME is to run under $TESTS
selected() {
	local p
	[ -z "$TESTS" ] && return 0
	for p in $TESTS; do
		# shellcheck disable=SC2053
		[[ $1 == *$p* ]] && return 0
	done
	return 1
}

want_suite() {
	case " $SUITES " in *" $1 "*) return 0 ;; esac
	return 1
}

# count FILE RC - sets P and F from the last "N passed, M failed" line of
# FILE, charging one failure for a missing line or a non-zero status
count() {
	local line
	line=$(grep -aoE '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		P=0; F=1
	else
		P=${line%% passed*}
		F=${line#*passed, }; F=${F%% failed*}
	fi
	if [ "$2" -ne 0 ] && [ "$F" -eq 0 ]; then
		F=1
	fi
}

# report NAME P F LOG - one line per test; the log's tail on failure
report() {
	local name=$1 p=$2 f=$3 log=${4:-}
	s_pass=$((s_pass + p)); s_fail=$((s_fail + f))
	if [ "$f" -eq 0 ]; then
		printf '  ok    %-44s %d passed\n' "$name" "$p"
	else
		printf '  FAIL  %-44s %d passed, %d failed\n' "$name" "$p" "$f"
		if [ -n "$log" ] && [ -s "$log" ]; then
			echo "  ---- $log (last 40 lines)"
			tail -n 40 "$log" | sed 's/^/  | /'
			echo "  ----"
		fi
	fi
}

suite_begin() {
	s_name=$1; s_pass=0; s_fail=0; s_note=""; s_start=$(date +%s)
	echo "== $s_name"
}

suite_end() {
	local took=$(( $(date +%s) - s_start ))
	echo "== $s_name: $s_pass passed, $s_fail failed ($took s)"
	summary="$summary$(printf '%-12s %5d passed, %d failed  %4d s%s' "$s_name" "$s_pass" "$s_fail" "$took" "$s_note${along_note:-}")
"
	total_pass=$((total_pass + s_pass))
	total_fail=$((total_fail + s_fail))
}

# build NAME MAKEARGS... - one make invocation as one check
build() {
	local name=$1 log="$LOGDIR/build-$1.log"
	shift
	echo "  make $*"
	if $MAKE --no-print-directory $JOBS -k "$@" >"$log" 2>&1; then
		report "build/$name" 1 0
	else
		report "build/$name" 0 1 "$log"
	fi
}

# cross_build NAME - the sysroot and the $CROSS build into $B_CROSS, as
# one check: all, units and the replay binaries
cross_build() {
	local log="$LOGDIR/build-$B_CROSS.log" what=${1:-all units fuzzers}
	echo "  make CROSS=$CROSS B=$B_CROSS ${STATIC:+STATIC=1 }${CROSS_LIBC:+LIBC=$CROSS_LIBC }$what"
	# shellcheck disable=SC2086
	if $MAKE --no-print-directory sysroot CROSS="$CROSS" >"$log" 2>&1 &&
	    $NICE $MAKE --no-print-directory $JOBS -k CROSS="$CROSS" B="$B_CROSS" \
	    ${STATIC:+STATIC=1} ${CROSS_LIBC:+LIBC=$CROSS_LIBC} $what \
	    >>"$log" 2>&1; then
		report "build/$B_CROSS" 1 0
	else
		report "build/$B_CROSS" 0 1 "$log"
	fi
}

run_build() {
	suite_begin build
	if [ -n "$CROSS" ]; then
		# the unit tests and replay targets only when TESTS wants them
		local t what=all
		for t in $UNIT_TESTS; do
			selected "unit/$t" && what="all units fuzzers"
		done
		for t in $FUZZ_TARGETS; do
			selected "replay/$t" && what="all units fuzzers"
		done
		for t in tests/golden/*/; do
			selected "golden/$(basename "$t")" && what="all units fuzzers"
		done
		cross_build "$what"
		suite_end
		return
	fi
	build "$B_NORMAL" B="$B_NORMAL" all units
	build "$B_SAN" B="$B_SAN" SAN=1 all units fuzzers
	# Dovecot's imaptest beside build-san/bin, for
	# integration/test_imaptest.py (tests/imaptest.mk: seconds, once)
	if selected integration/test_imaptest.py; then
		build imaptest B="$B_SAN" imaptest
	fi
	# what the packages carry (integration/test_packages.py packs it)
	if selected integration/test_packages.py; then
		build build-tiny-static B=build-tiny-static STATIC=1 PROFILE=tiny all
	fi
	if [ -n "$FUZZ_TARGETS" ]; then
		if command -v clang >/dev/null 2>&1; then
			build "$B_FUZZ" B="$B_FUZZ" FUZZ=1 fuzzers
		else
			report "build/build-fuzz (no clang)" 0 1
		fi
	fi
	suite_end
}

# unit_tests [NAMEPREFIX] - $T_DIR/test/NAME for NAME in $UNIT_TESTS
unit_tests() {
	local t bin log rc pfx=${1:-}
	for t in $UNIT_TESTS; do
		selected "${pfx}unit/$t" || continue
		bin=$T_DIR/test/$t
		log="$LOGDIR/${pfx%/}unit-$t.log"
		if [ ! -x "$bin" ]; then
			echo "$bin: not built" >"$log"
			report "${pfx}unit/$t" 0 1 "$log"
			continue
		fi
		ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		    timeout -k 5 120 $T_RUN "$bin" >"$log" 2>&1 </dev/null
		rc=$?
		count "$log" "$rc"
		report "${pfx}unit/$t" "$P" "$F" "$log"
	done
}

run_unit() {
	suite_begin unit
	unit_tests
	suite_end
}

run_golden() {
	local dir name bin in ref out rc p f
	suite_begin golden
	for dir in tests/golden/*/; do
		[ -d "$dir" ] || continue
		name=$(basename "$dir")
		selected "golden/$name" || continue
		bin=$T_DIR/test/$name
		p=0; f=0
		out="$LOGDIR/golden-$name.log"
		: >"$out"
		for in in "$dir"*.in; do
			[ -e "$in" ] || continue
			ref=${in%.in}.ref
			if [ ! -x "$bin" ]; then
				echo "$bin: not built" >>"$out"; f=$((f + 1))
				continue
			fi
			timeout -k 5 60 $T_RUN "$bin" "$in" >"$LOGDIR/golden.out" \
			    2>>"$out" </dev/null
			rc=$?
			if [ -n "${GOLDEN_UPDATE:-}" ] && [ "$rc" -eq 0 ]; then
				cp "$LOGDIR/golden.out" "$ref"
			fi
			if [ "$rc" -eq 0 ] && [ -f "$ref" ] &&
			    cmp -s "$ref" "$LOGDIR/golden.out"; then
				p=$((p + 1))
			else
				f=$((f + 1))
				echo "$in: exit $rc" >>"$out"
				diff -u "$ref" "$LOGDIR/golden.out" >>"$out" 2>&1
			fi
		done
		report "golden/$name" "$p" "$f" "$out"
	done
	suite_end
}

# fuzz_one T - libFuzzer target T for $FUZZ_TIME s over a copy of its
# corpus; its status into $LOGDIR/fuzz-T.log.rc
fuzz_one() {
	local t=$1 bin=$ROOT/$B_FUZZ/fuzz/$1 log="$LOGDIR/fuzz-$1.log" corpus
	corpus="$LOGDIR/corpus-$t"
	mkdir -p "$corpus"
	if [ -d "tests/fuzz/corpus/$t" ]; then
		cp -r "tests/fuzz/corpus/$t/." "$corpus/"
	fi
	set -- -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix="$LOGDIR/$t-"
	[ -f "tests/fuzz/$t.dict" ] && set -- "$@" -dict="$ROOT/tests/fuzz/$t.dict"
	(cd "$LOGDIR" &&
	    ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    timeout -k 5 $((FUZZ_TIME + 120)) "$bin" "$@" "$corpus" \
	    >"$log" 2>&1 </dev/null)
	echo $? >"$log.rc"
}

# run_fuzz - FUZZ_JOBS targets at a time (default: one per CPU; each
# libFuzzer run is one single-threaded process), reported in name order
run_fuzz() {
	local t log rc names=""
	suite_begin fuzz
	for t in $FUZZ_TARGETS; do
		selected "fuzz/$t" || continue
		log="$LOGDIR/fuzz-$t.log"
		if [ ! -x "$ROOT/$B_FUZZ/fuzz/$t" ]; then
			echo "$ROOT/$B_FUZZ/fuzz/$t: not built" >"$log"
			echo 1 >"$log.rc"
		else
			while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}" ]; do
				wait -n 2>/dev/null || sleep 0.2
			done
			fuzz_one "$t" &
		fi
		names="$names $t"
	done
	wait
	for t in $names; do
		log="$LOGDIR/fuzz-$t.log"
		rc=$(cat "$log.rc" 2>/dev/null || echo 1)
		if [ "$rc" -eq 0 ]; then
			report "fuzz/$t (corpus $(ls "$LOGDIR/corpus-$t" | wc -l))" 1 0
		else
			ls "$LOGDIR/$t-"* >>"$log" 2>/dev/null
			report "fuzz/$t" 0 1 "$log"
		fi
	done
	suite_end
}

# replay_tests [NAMEPREFIX] - $T_DIR/fuzz/F over tests/fuzz/corpus/F/
replay_tests() {
	local t bin log rc pfx=${1:-}
	for t in $FUZZ_TARGETS; do
		selected "${pfx}replay/$t" || continue
		bin=$T_DIR/fuzz/$t
		log="$LOGDIR/${pfx%/}replay-$t.log"
		if [ ! -x "$bin" ]; then
			echo "$bin: not built" >"$log"
			report "${pfx}replay/$t" 0 1 "$log"
			continue
		fi
		if [ -d "tests/fuzz/corpus/$t" ]; then
			ASAN_OPTIONS=detect_leaks=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			    timeout -k 5 120 $T_RUN "$bin" "tests/fuzz/corpus/$t" \
			    >"$log" 2>&1 </dev/null
			rc=$?
		else
			: | timeout -k 5 60 $T_RUN "$bin" >"$log" 2>&1
			rc=$?
		fi
		if [ "$rc" -eq 0 ]; then
			report "${pfx}replay/$t" 1 0
		else
			report "${pfx}replay/$t" 0 1 "$log"
		fi
	done
}

run_replay() {
	suite_begin replay
	replay_tests
	suite_end
}

# pool_wait N - until fewer than N of the pids in $pool run (the caller's
# pool: other background children, such as the suites run alongside the
# integration suite, do not count)
pool_wait() {
	local p n
	while :; do
		n=0
		for p in $pool; do
			kill -0 "$p" 2>/dev/null && n=$((n + 1))
		done
		[ "$n" -lt "$1" ] && return
		wait -n 2>/dev/null || sleep 0.2
	done
}

# integration_one FILE LOG - run one integration test, status into LOG.rc
integration_one() {
	local f=$1 log=$2 rc
	case "$f" in
	*.py) set -- /usr/bin/python3 -u "$f" ;;
	*) set -- sh "$f" ;;
	esac
	# the same script never twice at once (integration/test_X.py and
	# musl/ or cross/static/test_X.py share accounts and names): a lock
	# per script name, taken before its timeout starts
	PYTHONDONTWRITEBYTECODE=1 FACTEUR_BIN=$I_BIN FACTEUR_SRC=$ROOT \
	    FACTEUR_PKG_CROSS=${FACTEUR_PKG_CROSS:-$CROSS} \
	    FACTEUR_PKG_CROSS_INSTALL=${FACTEUR_PKG_CROSS_INSTALL:-${CROSS:+${STATIC:+1}}} \
	    flock "$LOGDIR/lock-${f##*/}" \
	    timeout -k 10 "${INTEGRATION_TIMEOUT:-420}" "$@" \
	    >"$log" 2>&1 </dev/null
	rc=$?
	[ "$rc" -eq 124 ] && echo "killed after ${INTEGRATION_TIMEOUT:-420} s" >>"$log"
	echo "$rc" >"$log.rc"
}

# run_integration - INTEGRATION_JOBS tests at a time (default 3: each has
# its own ports and directory), reported in the order they started
# cross_wrappers DIR - DIR/bin/facteur-* and DIR/test/* scripts that run
# the $B_CROSS programs under qemu; libsasl2's plugins are copied to tmpfs
# (32-bit readdir under qemu fails with EOVERFLOW on a 64-bit ext4 hash)
cross_wrappers() {
	local dir=$1 sub f sasl
	sasl=$(mktemp -d /dev/shm/facteur-sasl.XXXXXX 2>/dev/null || mktemp -d)
	chmod 755 "$sasl"
	cp -a "$SYSROOT/usr/lib/${CROSS%-}/sasl2/." "$sasl/" 2>/dev/null
	echo "$sasl" >"$LOGDIR/cross-sasl-dir"
	for sub in bin test; do
		mkdir -p "$dir/$sub"
		for f in "$ROOT/$B_CROSS/$sub"/*; do
			[ -f "$f" ] && [ -x "$f" ] || continue
			printf '#!/bin/sh\nexec env SASL_PATH=%s %s %s "$@"\n' \
			    "$sasl" "$T_RUN" "$f" >"$dir/$sub/${f##*/}"
			chmod 755 "$dir/$sub/${f##*/}"
		done
	done
	chmod 755 "$dir" "$LOGDIR"
}

run_integration() {
	local f name log rc names="" pool=""
	suite_begin integration
	I_BIN=$ROOT/$B_SAN/bin
	if [ -n "$CROSS" ]; then
		cross_wrappers "$LOGDIR/cross"
		I_BIN=$LOGDIR/cross/bin
	fi
	# issue 17's size for the group commit, 16 sessions x 2,000 messages,
	# against the build without sanitizers (ASan makes it minutes long);
	# its kill test runs at the default size under ASan below
	if [ -z "$CROSS" ] && selected load/test_group_commit.py; then
		names="$names load"
		GROUP_COMMIT_N=2000 FACTEUR_SKIP=test_kill_during_batches \
		    I_BIN=$ROOT/$B_NORMAL/bin integration_one \
		    tests/integration/test_group_commit.py \
		    "$LOGDIR/integration-load.log" &
		pool="$pool $!"
	fi
	# the longest first, so that they do not end the run alone
	for f in $(printf '%s\n' tests/integration/test_*.py \
	    tests/integration/test_*.sh | awk -v slow="$SLOW_FIRST" '
	    BEGIN { n = split(slow, s, " "); for (i = 1; i <= n; i++) r[s[i]] = i }
	    { b = $0; sub(/.*\//, "", b); print (b in r ? r[b] : 1000), $0 }' |
	    sort -n -k1,1 -s | cut -d' ' -f2); do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		selected "integration/$name" || continue
		if [ -n "$CROSS" ]; then
			case " $CROSS_INTEGRATION " in
			*" $name "*) ;;
			*) continue ;;
			esac
		fi
		names="$names $name"
		pool_wait "${INTEGRATION_JOBS:-3}"
		integration_one "$f" "$LOGDIR/integration-$name.log" &
		pool="$pool $!"
	done
	# shellcheck disable=SC2086
	[ -n "$pool" ] && wait $pool
	for name in $names; do
		log="$LOGDIR/integration-$name.log"
		rc=$(cat "$log.rc" 2>/dev/null || echo 1)
		count "$log" "$rc"
		case "$name" in
		load) report "load/test_group_commit.py" "$P" "$F" "$log" ;;
		*) report "integration/$name" "$P" "$F" "$log" ;;
		esac
	done
	# (only its own: the cross suite alongside has one too)
	[ -n "$CROSS" ] && [ -f "$LOGDIR/cross-sasl-dir" ] &&
	    rm -rf "$(cat "$LOGDIR/cross-sasl-dir")"
	suite_end
}

# run_cross - plain make check: the armhf build and its unit tests and
# replays under qemu-arm (names cross/unit/NAME, cross/replay/F); then the
# static multi-call build, what a router runs: the init script installs
# nothing but starts, reloads and stops it under qemu without the sysroot
# (cross/static/test_init.py), and the armhf ipk and spk are made of it
# (cross/static/test_packages.py).  When the armhf musl libraries are
# built ($MUSL_DEPS_armhf/.done, `make musl-deps CROSS=arm-linux-gnueabihf-`),
# that static build is the musl one (build-armhf-musl-static, what the
# armhf ipk carries then), and its ipk is also installed in the busybox
# root, started and carries mail under qemu-arm; else the glibc one, and
# the suite says the musl part was skipped
# cross_static_one TEST - tests/integration/TEST against the static build
# (I_BIN: qemu wrappers), reported as cross/static/TEST
cross_static_one() {
	local log="$LOGDIR/cross-static-$1.log"
	selected "cross/static/$1" || return 0
	integration_one "tests/integration/$1" "$log"
	count "$log" "$(cat "$log.rc")"
	report "cross/static/$1" "$P" "$F" "$log"
}

run_cross() {
	local saved_dir=$T_DIR saved_run=$T_RUN t any="" static=""
	for t in $UNIT_TESTS $FUZZ_TARGETS; do
		selected "cross/unit/$t" || selected "cross/replay/$t" && any=1
	done
	selected cross/static/test_init.py && static=1
	selected cross/static/test_packages.py && static=1
	[ -z "$any$static" ] && return 0	# TESTS selects nothing here
	suite_begin cross
	CROSS=arm-linux-gnueabihf-
	if [ -n "$any" ]; then
		B_CROSS=""
		STATIC="" cross_setup "$CROSS"
		[ -z "${NOBUILD:-}" ] && STATIC="" cross_build
		unit_tests cross/
		replay_tests cross/
	fi
	if [ -n "$static" ]; then
		B_CROSS=""
		local libc="" deps=${MUSL_DEPS_armhf:-$ROOT/build-musl-deps-armhf}
		if [ -f "$deps/.done" ]; then
			libc=musl
			B_CROSS=build-armhf-musl-static
			echo "  armhf musl libraries: $deps"
		else
			echo "  SKIP  cross/musl: no armhf musl libraries in $deps:"
			echo "        \`make musl-deps CROSS=arm-linux-gnueabihf-\` builds them there"
			echo "        once; the static armhf build and its ipk are glibc's"
			s_note=" (musl SKIPPED: no $deps)"
		fi
		STATIC=1 cross_setup "$CROSS"
		[ -z "${NOBUILD:-}" ] && STATIC=1 CROSS_LIBC=$libc cross_build all
		cross_wrappers "$LOGDIR/cross-static"
		I_BIN=$LOGDIR/cross-static/bin
		cross_static_one test_init.py
		# the armhf ipk and spk made of that build; the musl ipk is
		# installed and run too
		FACTEUR_PKG_CROSS=$CROSS FACTEUR_PKG_LIBC=$libc \
		    FACTEUR_PKG_CROSS_INSTALL=${libc:+ipk} \
		    cross_static_one test_packages.py
		rm -rf "$(cat "$LOGDIR/cross-sasl-dir")"
	fi
	CROSS=""
	T_DIR=$saved_dir T_RUN=$saved_run
	suite_end
}

# run_musl - the static musl build and $MUSL_INTEGRATION against it,
# reported as musl/NAME (three at a time, like run_integration), the
# slowest first; test_packages.py installs the musl ipk in its busybox
# root (FACTEUR_PKG_LIBC=musl).  $MUSL_SKIP: test functions left out
# (FACTEUR_SKIP): the timing and memory measurements, made by the glibc
# run, which would double the suite's time
MUSL_INTEGRATION=${MUSL_INTEGRATION:-test_packages.py test_imap.py test_submission.py test_smtp_receive.py test_dkim_sign.py}
MUSL_SKIP=${MUSL_SKIP-test_session_memory test_failed_login_delay
test_big_body_memory test_idle_timeout test_big_mailbox test_brute_force
test_measure test_crash_exactly_once}
run_musl() {
	local t any="" log b=build-musl-tiny-static
	# alongside the integration suite, one at a time: the integration
	# suite's three are all the tests that run at once, plus one
	MUSL_JOBS=${MUSL_JOBS:-${along_note:+1}}
	MUSL_JOBS=${MUSL_JOBS:-${INTEGRATION_JOBS:-3}}
	for t in $MUSL_INTEGRATION; do
		selected "musl/$t" && any=1
	done
	[ -z "$any" ] && return 0
	suite_begin musl
	if ! command -v musl-gcc >/dev/null 2>&1; then
		report "build/$b (no musl-gcc: musl-tools, tests/deps.sh)" 0 1
		suite_end
		return
	fi
	deps=${MUSL_DEPS:-$ROOT/build-musl-deps}
	if [ ! -f "$deps/.done" ] && [ -z "${MUSL_DEPS_BUILD:-}" ]; then
		echo "  SKIP  musl: no musl libraries in $deps:"
		echo "        \`make musl-deps\` builds them there once (tens of minutes),"
		echo "        or MUSL_DEPS_BUILD=1 in this run; MUSL_DEPS= names another place"
		s_note=" (SKIPPED: no $deps)"
		suite_end
		return
	fi
	echo "  musl libraries: $deps"
	if [ -z "${NOBUILD:-}" ]; then
		log="$LOGDIR/build-$b.log"
		echo "  make musl-deps; make STATIC=1 LIBC=musl PROFILE=tiny"
		if $MAKE --no-print-directory musl-deps MUSL_DEPS="$deps" \
		    >"$log" 2>&1 &&
		    $NICE $MAKE --no-print-directory $JOBS STATIC=1 LIBC=musl \
		    MUSL_DEPS="$deps" PROFILE=tiny B=$b all >>"$log" 2>&1; then
			report "build/$b" 1 0
		else
			report "build/$b" 0 1 "$log"
			suite_end
			return
		fi
	fi
	I_BIN=$ROOT/$b/bin
	for t in $MUSL_INTEGRATION; do
		selected "musl/$t" || continue
		while [ "$(jobs -rp | wc -l)" -ge "$MUSL_JOBS" ]; do
			wait -n 2>/dev/null || sleep 0.2
		done
		FACTEUR_PKG_LIBC=musl FACTEUR_SKIP=$(echo $MUSL_SKIP) \
		    integration_one "tests/integration/$t" "$LOGDIR/musl-$t.log" &
	done
	wait
	for t in $MUSL_INTEGRATION; do
		selected "musl/$t" || continue
		log="$LOGDIR/musl-$t.log"
		count "$log" "$(cat "$log.rc" 2>/dev/null || echo 1)"
		report "musl/$t" "$P" "$F" "$log"
	done
	suite_end
}

start=$(date +%s)
echo "make check: logs in $LOGDIR"
if [ -z "${NOBUILD:-}" ] && want_suite build; then
	run_build
fi
want_suite unit && run_unit
want_suite golden && run_golden
want_suite fuzz && run_fuzz
want_suite replay && run_replay
# The cross and musl suites run alongside the integration suite (plain
# make check, integration and cross or musl wanted, ALONGSIDE not 0), each
# in its own background job: the integration tests spend most of their
# time waiting on daemons and timeouts (about one CPU of two in use); the
# cross and musl suites build (under nice, so that they take what the
# integration tests leave and do not slow their timing checks), run the
# ARM unit tests and replays under qemu one at a time, then their
# integration scripts one at a time.  Their output, counts and summary
# lines follow the integration suite's; integration_one's lock keeps a
# script from running in two suites at once.
# alongside SUITE - run_SUITE, its output and totals into LOGDIR/along-SUITE.*
alongside() {
	total_pass=0; total_fail=0; summary=""
	along_note=" (alongside integration)"
	NICE="nice -n 19"
	"run_$1"
	echo "$total_pass $total_fail" >"$LOGDIR/along-$1.count"
	printf '%s' "$summary" >"$LOGDIR/along-$1.summary"
}
along=""
if [ -z "$CROSS" ] && [ "${ALONGSIDE:-1}" != 0 ] && want_suite integration; then
	for s in cross musl; do
		want_suite "$s" || continue
		alongside "$s" >"$LOGDIR/along-$s.out" 2>&1 </dev/null &
		along="$along $s:$!"
	done
fi
want_suite integration && run_integration
if [ -n "$along" ]; then
	for a in $along; do
		wait "${a#*:}"
		s=${a%%:*}
		cat "$LOGDIR/along-$s.out"
		read -r p f <"$LOGDIR/along-$s.count" || { p=0; f=1; }
		total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
		[ -s "$LOGDIR/along-$s.summary" ] &&
		    summary="$summary$(cat "$LOGDIR/along-$s.summary")
"
	done
else
	want_suite cross && run_cross
	want_suite musl && run_musl
fi

echo
echo "== summary ($(( $(date +%s) - start )) s, logs in $LOGDIR)"
printf '%s' "$summary"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
