# keytool/: facteur-keytool.  keytool.c dispatches; each subcommand family
# has its own file (user, alias here; dkim, dns, tls, doctor by DKIM).
BINS		+= facteur-keytool
facteur-keytool_SRCS = $(wildcard keytool/*.c)
# the doctor reads SMTP replies with the relay role's parser (no I/O)
facteur-keytool_SRCS += smtpd/relay_reply.c
