# conf/: the configuration parser (SPEC 3), linked into the shared archive.
LIB_SRCS += conf/conf.c
UNIT_TESTS += conf_test
