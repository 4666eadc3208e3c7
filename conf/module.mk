# conf/: the configuration parser (SPEC 3), linked into the shared archive,
# with the unit tests of conf and of the lib/ modules it builds on.
LIB_SRCS += conf/conf.c conf/conf_fetch.c conf/conf_text.c
UNIT_TESTS += conf_test strnum_test buf_test
FUZZ_TARGETS += fuzz_conf
