# SPDX-License-Identifier: ISC
# tests/: fuzz targets (libFuzzer with clang, replay main with gcc) and the
# check, run, deps and fuzz targets.  See tests/README.md.
#
#   make check [TESTS=pattern]   deps, build, build-san, build-fuzz, every suite
#   make deps                    install missing Debian packages (tests/deps.sh)
#   make run                     deps.sh run (only what the demo needs), build,
#                                demo setup under ./run/ (init/demo.sh)
#   make fuzz [FUZZ_TIME=60] [TESTS=fuzz_x]   only the libFuzzer suite, longer
#   make check-arm-packages      the ARM ipk and spk installed under qemu-user
#   make FUZZ=1 B=build-fuzz fuzzers          clang + libFuzzer binaries
#   make SAN=1 B=build-san fuzzers            gcc + replay main binaries

# FUZZ=1: the library and the targets are compiled by clang with
# -fsanitize=fuzzer-no-link, the targets linked with libFuzzer's main.
# Warnings stay fatal in the gcc builds only: clang warns about other
# things (e.g. -Wformat-nonliteral in a vsnprintf wrapper), and the fuzz
# build is there to fuzz, not to lint.
# Otherwise each target is linked with tests/fuzz/replay_main.c, which
# feeds the files named on its command line to LLVMFuzzerTestOneInput.
ifeq ($(FUZZ),1)
CC	 = clang
CFLAGS	+= -fsanitize=fuzzer-no-link,address,undefined \
	   -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
	   -Wno-error -DFACTEUR_FUZZ=1
FUZZ_LDFLAGS = -fsanitize=fuzzer,address,undefined
FUZZ_MAIN =
else
FUZZ_LDFLAGS =
FUZZ_MAIN = $(B)/obj/tests/fuzz/replay_main.o
endif

# One pattern rule for every target, with secondary expansion so that
# FUZZ_TARGETS and F_DEPS appended after this file (tests/*.mk fragments)
# count too.  $(LIBA) is defined after the includes: name the archive.
.SECONDEXPANSION:
$(B)/fuzz/%: $(B)/obj/tests/fuzz/%.o \
    $$(addprefix $(B)/obj/,$$(subst .c,.o,$$($$*_DEPS))) $(FUZZ_MAIN) $(B)/libfacteur.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(FUZZ_LDFLAGS) -o $@ $^ $(LIBS)

fuzzers: $$(addprefix $(B)/fuzz/,$$(FUZZ_TARGETS))

TEST_ENV = MAKE="$(MAKE)" UNIT_TESTS="$(UNIT_TESTS)" \
	   FUZZ_TARGETS="$(FUZZ_TARGETS)" TESTS="$(TESTS)" \
	   MUSL_DEPS="$(MUSL_DEPS)" MUSL_DEPS_armhf="$(MUSL_DEPS_armhf)"

deps:
	@sh tests/deps.sh

# the armhf and arm64 ipk and spk installed and run under qemu-user (too
# slow for check: README "Installing on a box", package sizes), those of
# the glibc build, then those of the musl build where that architecture's
# musl libraries are built (make musl-deps CROSS=...)
check-arm-packages: deps
	@for c in arm-linux-gnueabihf- aarch64-linux-gnu-; do \
	    $(MAKE) --no-print-directory check CROSS=$$c STATIC=1 \
	    TESTS=integration/test_packages.py || exit 1; \
	    case $$c in arm-*) d="$(MUSL_DEPS_armhf)" ;; *) d="$(MUSL_DEPS_arm64)" ;; esac; \
	    if [ -f "$$d/.done" ]; then \
	    $(MAKE) --no-print-directory check CROSS=$$c STATIC=1 LIBC=musl \
	    TESTS=integration/test_packages.py || exit 1; \
	    else echo "check-arm-packages: SKIP the musl packages for $$c:" \
	    "no $$d (make musl-deps CROSS=$$c)"; fi; done

check: deps
	@$(TEST_ENV) bash tests/run_tests.sh

fuzz: deps
	@$(TEST_ENV) SUITES="build fuzz" FUZZ_TIME="$(or $(FUZZ_TIME),60)" \
	    bash tests/run_tests.sh

run:
	@sh tests/deps.sh run
	@$(MAKE) B=build all
	@sh init/demo.sh

.PHONY: fuzzers fuzz check-arm-packages
