# imapd/: facteur-imapd (IMAP4rev1 over TLS on Maildir++), see imapd/README.md
IMAP_CORE_SRCS	 = imapd/imap_parser.c imapd/imap_mime.c imapd/imap_decode.c \
		   imapd/imap_addr.c imapd/imap_sortkey.c imapd/imap_binary.c \
		   imapd/imap_mutf7.c

BINS		+= facteur-imapd
facteur-imapd_SRCS = imapd/imapd.c imapd/imap_session.c imapd/imap_cmd.c \
		   imapd/imap_list.c imapd/imap_condstore.c imapd/imap_rev2.c \
		   imapd/imap_context.c imapd/imap_fetch.c imapd/imap_search.c imapd/imap_sort.c \
		   imapd/imap_thread.c imapd/imap_catenate.c $(STORE_SRCS) \
		   $(IMAP_CORE_SRCS) $(POP3_SRCS)
POP3_SRCS	 = imapd/pop3_proto.c imapd/pop3_session.c imapd/pop3_login.c \
		   imapd/pop3_maildrop.c imapd/relay.c

UNIT_TESTS	+= imap_parser_test mime_test pop3_test
pop3_test_DEPS	 = imapd/pop3_proto.c
imap_parser_test_DEPS = imapd/imap_parser.c
mime_test_DEPS	 = $(IMAP_CORE_SRCS)

FUZZ_TARGETS	+= fuzz_imap_parser fuzz_mime fuzz_pop3
fuzz_pop3_DEPS	 = imapd/pop3_proto.c $(IMAP_CORE_SRCS)
fuzz_imap_parser_DEPS = imapd/imap_search.c $(STORE_SRCS) \
		   $(IMAP_CORE_SRCS)
fuzz_mime_DEPS	 = $(IMAP_CORE_SRCS)
# the command layer: a worker session over a socketpair and a temp Maildir
FUZZ_TARGETS	+= fuzz_imap_session
fuzz_imap_session_DEPS = imapd/imap_session.c imapd/imap_cmd.c \
		   imapd/imap_list.c imapd/imap_condstore.c imapd/imap_fetch.c \
		   imapd/imap_search.c imapd/imap_sort.c imapd/imap_thread.c \
		   imapd/imap_catenate.c imapd/imap_rev2.c imapd/imap_context.c \
		   $(STORE_SRCS) $(IMAP_CORE_SRCS) tests/fuzz/fuzz_feed.c
# the POP3 session: a worker on a temp Maildir, or a login before STLS
FUZZ_TARGETS	+= fuzz_pop3_session
fuzz_pop3_session_DEPS = $(POP3_SRCS) $(STORE_SRCS) $(IMAP_CORE_SRCS) \
		   tests/fuzz/fuzz_feed.c
