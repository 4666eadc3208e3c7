# lib/: code shared by more than one program, one static archive.
LIB_SRCS += lib/log.c lib/xmem.c lib/strnum.c lib/buf.c
