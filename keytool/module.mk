# keytool/
