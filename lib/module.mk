# lib/: code shared by more than one program, one static archive.
LIB_SRCS += lib/base64.c lib/log.c lib/xmem.c lib/strnum.c lib/buf.c lib/ev.c lib/ipc.c lib/tls.c lib/conn.c
LIB_SRCS += lib/daemon.c lib/climit.c lib/msghdr.c lib/crlf.c lib/authc_cred.c lib/localsend.c
LIB_SRCS += lib/compat.c lib/fsyncv.c lib/pwlookup.c lib/dirsync.c lib/cidr.c lib/crc32.c
