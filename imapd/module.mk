# imapd/
