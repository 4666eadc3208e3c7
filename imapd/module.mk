# imapd/: facteur-imapd (IMAP4rev1 over TLS on Maildir++), see imapd/README.md
IMAP_CORE_SRCS	 = imapd/imap_parser.c imapd/imap_mime.c

UNIT_TESTS	+= imap_parser_test mime_test
imap_parser_test_DEPS = imapd/imap_parser.c
mime_test_DEPS	 = imapd/imap_parser.c imapd/imap_mime.c

FUZZ_TARGETS	+= fuzz_imap_parser fuzz_mime
fuzz_imap_parser_DEPS = imapd/imap_parser.c
fuzz_mime_DEPS	 = imapd/imap_parser.c imapd/imap_mime.c
