# smtpd/: facteur-smtpd (roles: parent, smtp, queue, deliver, relay, fetch),
# facteur-sendmail and facteur-ctl.  Pure parsers are listed apart so unit
# tests and fuzz targets can link them without the daemon.
SMTPD_PARSERS	 = smtpd/smtp_cmd.c smtpd/smtp_data.c smtpd/smtp_auth.c \
		   smtpd/queue_file.c smtpd/authres.c smtpd/milter_proto.c
LIB_SRCS	+= lib/maildir.c lib/priv.c
BINS		+= facteur-smtpd
facteur-smtpd_SRCS = smtpd/smtpd.c smtpd/smtp_server.c smtpd/smtp_session.c \
		   smtpd/smtp_session_data.c smtpd/smtp_session_auth.c \
		   smtpd/smtp_session_dkim.c smtpd/smtp_session_inbound.c \
		   smtpd/smtp_session_grey.c smtpd/greylist.c \
		   smtpd/smtp_local.c \
		   smtpd/milter.c \
		   smtpd/queue.c smtpd/queue_accept.c smtpd/queue_bounce.c \
		   smtpd/queue_ctl.c smtpd/queue_once.c \
		   smtpd/deliver_maildir.c $(FETCH_SRCS) \
		   $(sort $(wildcard smtpd/relay*.c)) $(SMTPD_PARSERS)
# the front door of port 25 ([screen], issue 11)
facteur-smtpd_SRCS += smtpd/screen.c smtpd/screen_helo.c
FETCH_SRCS	 = smtpd/fetch.c smtpd/fetch_io.c smtpd/fetch_remote.c \
		   smtpd/fetch_proto.c smtpd/fetch_resolve.c
FUZZ_TARGETS	+= fuzz_fetch
fuzz_fetch_DEPS	 = smtpd/fetch_proto.c
BINS		+= facteur-sendmail facteur-ctl
facteur-sendmail_SRCS = smtpd/sendmail.c
facteur-ctl_SRCS = smtpd/ctl.c smtpd/queue_file.c
