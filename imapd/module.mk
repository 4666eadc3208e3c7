# imapd/: facteur-imapd (IMAP4rev1 over TLS on Maildir++), see imapd/README.md
IMAP_CORE_SRCS	 = imapd/imap_parser.c

UNIT_TESTS	+= imap_parser_test
imap_parser_test_DEPS = imapd/imap_parser.c

FUZZ_TARGETS	+= fuzz_imap_parser
fuzz_imap_parser_DEPS = imapd/imap_parser.c
