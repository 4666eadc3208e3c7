# SPDX-License-Identifier: ISC
"""dovecot_peer - a test instance of Debian's Dovecot as a peer: its own
base and state directories under a test's temporary directory, IMAP,
IMAPS and POP3S on the loopback ports asked for, passwd-file users with
plain passwords and Maildirs owned by the test's mail account.  Used
where facteur is compared with Dovecot or fetches from it."""

import os
import pwd
import signal
import subprocess

import facteur_test as ft

DOVECOT = '/usr/sbin/dovecot'

_CONF = '''\
instance_name = facteur-test-{name}
base_dir = {dv}/run
state_dir = {dv}/state
protocols = {protocols}
listen = 127.0.0.1
log_path = {dv}/dovecot.log
{ssl}
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dv}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dv}/passwd
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
  }}
}}
'''

_POP3 = '''\
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = {pop3s}
  }}
}}
'''


def installed(*programs):
    """True when dovecot and the given helper programs (paths) exist."""
    return all(os.path.exists(p) for p in (DOVECOT,) + programs)


class Dovecot:
    """One Dovecot instance in env.tmp/NAME.  Ports left 0 are not
    listened on; IMAPS and POP3S need cert and key (file names), and with
    them plain-text logins are refused, as on a real provider."""

    def __init__(self, env, name, users, password, imap=0, imaps=0, pop3s=0,
                 cert=None, key=None):
        self.env = env
        self.dir = os.path.join(env.tmp, name)
        self.name = name
        self.users = users
        self.password = password
        self.ports = {'imap': imap, 'imaps': imaps, 'pop3s': pop3s}
        self.cert, self.key = cert, key
        if os.getuid() == 0:
            pw = pwd.getpwnam(env.user)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.proc = None

    def home(self, user):
        return os.path.join(self.dir, 'home', user.split('@')[0])

    def maildir(self, user):
        return os.path.join(self.home(user), 'Maildir')

    def _conf(self):
        if self.cert:
            ssl = (f'ssl = required\nssl_cert = <{self.cert}\n'
                   f'ssl_key = <{self.key}\n'
                   'ssl_dh = </usr/share/dovecot/dh.pem\n'
                   'disable_plaintext_auth = yes')
        else:
            ssl = 'ssl = no\ndisable_plaintext_auth = no'
        pop3 = self.ports['pop3s']
        conf = _CONF.format(name=self.name, dv=self.dir, ssl=ssl,
                            protocols='imap pop3' if pop3 else 'imap',
                            **self.ports)
        return conf + (_POP3.format(pop3s=pop3) if pop3 else '')

    def start(self):
        """Write the configuration, users and Maildirs, start Dovecot and
        wait for its ports; True when it listens."""
        for sub in ('run', 'state', 'home'):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, 'dovecot.conf'), 'w',
                  encoding='ascii') as f:
            f.write(self._conf())
        with open(os.path.join(self.dir, 'passwd'), 'w',
                  encoding='ascii') as f:
            for u in self.users:
                f.write(f'{u}:{{PLAIN}}{self.password}:{self.uid}:'
                        f'{self.gid}::{self.home(u)}\n')
        for u in self.users:
            for s in ('tmp', 'new', 'cur'):
                os.makedirs(os.path.join(self.maildir(u), s), exist_ok=True)
            for dirpath, _, _ in os.walk(self.home(u)):
                os.chown(dirpath, self.uid, self.gid)
        self.proc = subprocess.Popen(
            [DOVECOT, '-F', '-c', os.path.join(self.dir, 'dovecot.conf')],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        return all(ft.wait_port(p, 20, self.proc)
                   for p in self.ports.values() if p)

    def stop(self):
        if not self.proc:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.proc = None

    def log(self):
        """The end of Dovecot's log, for a failure's details."""
        try:
            with open(os.path.join(self.dir, 'dovecot.log'),
                      errors='replace') as f:
                return f.read()[-1500:]
        except OSError:
            return ''
