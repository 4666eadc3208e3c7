# store/: the Maildir++ store (folders, stable UIDs, flags, the header
# cache) that IMAP and POP3 in facteur-imapd share, see store/README.md
STORE_SRCS	 = store/store.c store/store_box.c store/store_msg.c \
		   store/store_cache.c store/store_modseq.c

UNIT_TESTS	+= store_test
store_test_DEPS	 = $(STORE_SRCS)
