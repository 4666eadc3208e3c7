# smtpd/
