# authd/: facteur-authd, plus the lib modules it shares with facteur-keytool.
LIB_SRCS	+= lib/passwd.c lib/userdb.c
UNIT_TESTS	+= passwd_test userdb_test
