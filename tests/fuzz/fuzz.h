/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h - the libFuzzer entry point every tests/fuzz/fuzz_X.c defines.
 *
 * Built two ways (tests/module.mk): with clang and libFuzzer (make FUZZ=1,
 * make check runs each target for a few seconds over its seed corpus in
 * tests/fuzz/corpus/fuzz_X/), and with gcc plus replay_main.c, which feeds
 * each file named on the command line once, so gcc and qemu-user builds
 * replay the corpus too.  The function must not keep state between calls
 * and must not exit; a crash or sanitizer report is the failure.
 */
#ifndef FACTEUR_FUZZ_H
#define FACTEUR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
