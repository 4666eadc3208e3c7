# authd/: facteur-authd, plus the lib modules it shares with facteur-keytool.
LIB_SRCS	+= lib/passwd.c lib/userdb.c lib/authc.c lib/rcpt_cache.c lib/sha256.c
BINS		+= facteur-authd
facteur-authd_SRCS = $(wildcard authd/*.c)
UNIT_TESTS	+= passwd_test userdb_test authd_fairq_test sha256_test
authd_fairq_test_DEPS = authd/authd_fairq.c
FUZZ_TARGETS	+= fuzz_authd
fuzz_authd_DEPS	= authd/authd_proto.c
