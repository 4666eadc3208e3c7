[facteur_smtp]
title="facteur SMTP (forward 25 here)"
desc="facteur"
port_forward="yes"
dst.ports="2525/tcp"

[facteur_submission]
title="facteur submission (forward 587 and 465 here)"
desc="facteur"
port_forward="yes"
dst.ports="2587,2465/tcp"

[facteur_imaps]
title="facteur IMAPS (forward 993 here)"
desc="facteur"
port_forward="yes"
dst.ports="2993/tcp"
