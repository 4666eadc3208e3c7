# SPDX-License-Identifier: ISC
"""test_setup - `facteur-keytool setup` on an empty directory gives a
working server (issue 15, "First run").

setup --dir TMP/box writes the configuration, certificate, DKIM keys and
first user; the test then starts authd, smtpd and imapd on exactly that
configuration and does a round trip (all as the harness's ordinary user,
`nobody` under root: the set-up of an ordinary user, as in the Synology
package; root's is the OpenWrt package's, in test_packages.py):
submission with the printed password, local delivery, both DKIM
signatures verified by dkimpy against the TXT records setup printed, the
postmaster alias, port 25, and the message read back over IMAPS.  Also:
a second setup is refused without --force and leaves everything as it
was; no password on stdin makes one up and prints it once; a package's
placeholder configuration counts as not set up; --relay writes a [relay]
with the password file; on loopback (the round trip's --listen 127.0.0.1)
no service is offered to other machines (SRV "0 0 0 .", no client
settings), on the wildcard address they are, on the standard ports, and
the forwards note does not say "not root" when run as root.  Prints
`# measure:` lines for the time setup takes and the time from an empty
directory to the first mail read back."""

import hashlib
import imaplib
import os
import re
import smtplib
import ssl
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

import dkim  # noqa: E402

env = ft.Env()
BOX = env.path('box')
CONF = os.path.join(BOX, 'facteur.conf')
P25, P587, P465, P993 = env.port(), env.port(), env.port(), env.port()
ALICE = 'alice@example.org'
PASSWORD = 'first user pw'
TXT = {}
T0 = time.time()


def setup(*args, stdin='', root=BOX, conf=None, listen='127.0.0.1',
          as_root=False):
    """listen None: setup's default (the wildcard); as_root: run as root
    (the test's own uid), not as the harness's ordinary user"""
    cmd = [env.binary('keytool')]
    if conf:
        cmd += ['-c', conf]
    cmd += ['setup', 'example.org', '--dir', root]
    if listen:
        cmd += ['--listen', listen]
    cmd += ['--ports', f'{P25},{P587},{P465},{P993}'] + list(args)
    e = dict(os.environ, ASAN_OPTIONS=ft.TOOL_ASAN, UBSAN_OPTIONS=ft.UBSAN)
    kw = {} if as_root else env._user_kw()  # pylint: disable=protected-access
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                       timeout=120, env=e, cwd=env.tmp, **kw)
    check(not any(m in r.stderr for m in ft.SANITIZER_MARKS),
          'setup: no sanitizer report', r.stderr[-3000:])
    return r


def digest(root):
    """path -> sha256 of every file under root"""
    out = {}
    for d, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            with open(p, 'rb') as f:
                out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


def txt_records(out):
    """DKIM TXT values (single-string form) from setup's output"""
    got = {}
    for line in out.splitlines():
        m = re.match(r'^(\S+)\._domainkey\.(\S+)\.\s+IN TXT\s+"(v=DKIM1;[^"]*)"$',
                     line)
        if m:
            got[f'{m.group(1)}._domainkey.{m.group(2)}'] = m.group(3)
    return got


def dnsfunc(name, timeout=5):
    v = TXT.get(name.decode().rstrip('.'))
    return v.encode() if v else None


def test_setup_empty_dir():
    start = time.time()
    r = setup('--user', ALICE, stdin=PASSWORD + '\n')
    took = time.time() - start
    print(f'# measure: setup on an empty directory: {took:.2f} s', flush=True)
    check(r.returncode == 0, 'setup exits 0', r.stderr)
    conf = open(CONF, encoding='utf-8').read()
    for want in ('hostname  = mail.example.org', 'domains   = example.org',
                 f'state_dir = {BOX}/state', f'mail_dir  = {BOX}/mail/%d/%u',
                 f'listen      = 127.0.0.1:{P25}',
                 f'submissions = 127.0.0.1:{P465}',
                 f'listen = 127.0.0.1:{P993}'):
        check(want in conf, f'facteur.conf has "{want}"', conf)
    check('[relay]' not in conf, 'no [relay] without --relay')
    st = os.stat(os.path.join(BOX, 'tls', 'privkey.pem'))
    check(stat.S_IMODE(st.st_mode) == 0o600, 'TLS key mode 0600')
    keys = sorted(os.listdir(os.path.join(BOX, 'state', 'dkim')))
    check(len(keys) == 2 and keys[0].startswith('example.org.ed') and
          keys[1].startswith('example.org.rsa'), 'an Ed25519 and an RSA key',
          keys)
    mdir = os.path.join(BOX, 'mail', 'example.org')
    st = os.stat(mdir)
    check(st.st_uid == env.uid and stat.S_IMODE(st.st_mode) == 0o700,
          'mail/example.org: the account\'s, 0700', (st.st_uid, oct(st.st_mode)))
    st = os.stat(os.path.join(BOX, 'state', 'users.db'))
    check(st.st_uid == env.uid, 'users.db belongs to the account')
    TXT.update(txt_records(r.stdout))
    check(len(TXT) == 2 and any('k=ed25519' in v for v in TXT.values()) and
          any('k=rsa' in v for v in TXT.values()),
          'setup prints both DKIM TXT records', r.stdout)
    for want in (' IN MX   10 mail.example.org.', 'v=spf1 mx -all',
                 '_dmarc.example.org.', f'user name   {ALICE}',
                 'added alias postmaster@example.org -> ' + ALICE):
        check(want in r.stdout, f'setup prints "{want}"', r.stdout[-1500:])
    check(PASSWORD not in r.stdout, 'a password given on stdin is not printed')
    # --listen 127.0.0.1: no other machine reaches it, nothing is offered
    srv = re.findall(r'^_(\w+)\._tcp\.example\.org\.\s+IN SRV\s+(.*)$',
                     r.stdout, re.M)
    check(len(srv) == 4 and all(v == '0 0 0 .' for _k, v in srv),
          'on loopback only, every SRV record is "0 0 0 ." (not offered)', srv)
    check(not re.search(r'\d -> \d', r.stdout) and
          '<clientConfig' not in r.stdout and
          'incoming    IMAP' not in r.stdout and
          'outgoing    SMTP' not in r.stdout and
          'listens on 127.0.0.1 only (loopback)' in r.stdout,
          'on loopback only: no forwards, no autoconfig, no client servers',
          r.stdout[-1500:])


def test_public_listen():
    """setup on the wildcard address (its default), as root when the test
    runs as root: the services are offered on the standard ports, behind
    the forwards that --ports makes necessary"""
    root = env.path('box5')
    as_root = os.geteuid() == 0
    args = ['--account', env.user] if as_root else []
    r = setup(*args, root=root, listen=None, as_root=as_root, stdin='box5 pw 1\n')
    check(r.returncode == 0, 'setup on the wildcard address exits 0',
          r.stderr)
    for want in ('listen      = 0.0.0.0:', '_submissions._tcp.example.org.'
                 '           IN SRV  0 1 465 mail.example.org.',
                 f'465 -> {P465}', f'993 -> {P993}',
                 'IMAP, mail.example.org port 993, SSL/TLS',
                 'SMTP, mail.example.org port 465 SSL/TLS (or 587 STARTTLS)',
                 'other ports than the standard ones (--ports)',
                 '<port>993</port>'):
        check(want in r.stdout + open(os.path.join(root, 'facteur.conf'),
                                      encoding='utf-8').read(),
              f'setup on 0.0.0.0 prints "{want}"', r.stdout[-1500:])
    check('not root' not in r.stdout or not as_root,
          'setup --ports as root does not say "not root"', r.stdout[-800:])


def test_again_refused():
    before = digest(BOX)
    r = setup('--user', ALICE, stdin='other pw 1\n')
    check(r.returncode == 1 and 'set up already' in r.stderr and
          '--force' in r.stderr, 'a second setup is refused, --force named',
          (r.returncode, r.stderr))
    check(digest(BOX) == before, 'the refused setup changed no file')


def start_all():
    env.conf = CONF
    env.run_dir = os.path.join(BOX, 'run')
    env.start('authd')
    env.start('smtpd', ports=[P25, P587, P465])
    env.start('imapd', ports=[P993])


def maildir(addr):
    local, domain = addr.split('@')
    base = os.path.join(BOX, 'mail', domain, local)
    out = []
    for sub in ('new', 'cur'):
        try:
            out += [os.path.join(base, sub, n)
                    for n in sorted(os.listdir(os.path.join(base, sub)))]
        except FileNotFoundError:
            pass
    return out


def wait_mail(addr, marker, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in maildir(addr):
            data = open(p, 'rb').read()
            if marker.encode() in data:
                return data
        time.sleep(0.1)
    return None


def no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_round_trip():
    start_all()
    marker = f'setup-round-trip-{os.getpid()}'
    msg = (f'From: Alice <{ALICE}>\r\nTo: postmaster@example.org\r\n'
           f'Subject: {marker}\r\nMessage-ID: <{marker}@example.org>\r\n'
           f'\r\nhello from a fresh setup\r\n')
    with smtplib.SMTP_SSL('127.0.0.1', P465, context=no_verify(),
                          timeout=30) as c:
        c.login(ALICE, PASSWORD)
        c.sendmail(ALICE, ['postmaster@example.org'], msg)
    data = wait_mail(ALICE, marker)
    if not check(data is not None, 'submitted mail to postmaster@ reaches '
                 'alice (alias made by setup)'):
        return
    wire = data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    sigs = re.findall(rb'^DKIM-Signature:.*?a=([a-z0-9-]+);', wire, re.M | re.S)
    check(sorted(sigs) == [b'ed25519-sha256', b'rsa-sha256'],
          'signed with rsa-sha256 and ed25519-sha256', sigs)
    for i in range(len(sigs)):
        try:
            ok = dkim.DKIM(wire).verify(idx=i, dnsfunc=dnsfunc)
        except Exception as e:  # pylint: disable=broad-except
            ok = repr(e)
        check(ok is True, f'signature {i} verifies with dkimpy against the '
              'printed TXT record', ok)
    # STARTTLS on submission, and port 25 from outside
    with smtplib.SMTP('127.0.0.1', P587, timeout=30) as c:
        c.starttls(context=no_verify())
        c.login(ALICE, PASSWORD)
        c.sendmail(ALICE, [ALICE], f'From: {ALICE}\r\n'
                   f'Subject: {marker}-587\r\n\r\nx\r\n')
    with smtplib.SMTP('127.0.0.1', P25, timeout=30) as c:
        c.sendmail('friend@remote.example', [ALICE],
                   f'Subject: {marker}-25\r\n\r\nfrom outside\r\n')
    check(wait_mail(ALICE, f'{marker}-587') is not None, 'port 587 works')
    check(wait_mail(ALICE, f'{marker}-25') is not None, 'port 25 works')
    # IMAP read-back
    m = imaplib.IMAP4_SSL('127.0.0.1', P993, ssl_context=no_verify(),
                          timeout=30)
    try:
        m.login(ALICE, PASSWORD)
        typ, _ = m.select('INBOX')
        typ, ids = m.search(None, 'SUBJECT', f'"{marker}"')
        found = ids[0].split() if typ == 'OK' else []
        check(len(found) == 3, 'IMAP finds the three messages', ids)
        bodies = []
        for n in found:
            typ, got = m.fetch(n, '(BODY.PEEK[])')
            bodies.append(got[0][1] if typ == 'OK' else b'')
        signed = [b for b in bodies if b'hello from a fresh setup' in b]
        check(len(signed) == 1 and b'DKIM-Signature:' in signed[0],
              'IMAP reads the signed message back', bodies)
        m.logout()
    except imaplib.IMAP4.error as e:
        check(False, 'IMAP login and read', repr(e))
    print(f'# measure: empty directory to mail read back over IMAP: '
          f'{time.time() - T0:.2f} s', flush=True)
    env.stop_all()


def test_generated_password():
    root = env.path('box2')
    r = setup('--user', 'bob', '--single-account', root=root, stdin='')
    check(r.returncode == 0, 'setup with nothing on stdin exits 0', r.stderr)
    m = re.search(r'password    (\S+)   \(shown only this once', r.stdout)
    check(m is not None and len(m.group(1)) == 16,
          'a 16-character password is made up and printed', r.stdout[-800:])
    check(r.stdout.count(m.group(1) if m else '@@') == 1,
          'the password is printed once')
    check('user name   bob@example.org' in r.stdout,
          '--user without a domain gets the setup domain')
    text = open(os.path.join(root, 'facteur.conf'), encoding='utf-8').read()
    check('single_account = yes' in text and
          'single_account' not in open(CONF, encoding='utf-8').read(),
          '--single-account, and only it, writes single_account = yes')


def test_placeholder_and_relay():
    root = env.path('box3')
    os.makedirs(root)
    conf = os.path.join(root, 'facteur.conf')
    with open(conf, 'w', encoding='utf-8') as f:
        f.write('# facteur: not set up yet\n')
    env.chown(root)
    env.chown(conf)
    r = setup('--relay', 'smtp.provider.example:465', '--relay-user',
              'me@provider.example', root=root, conf=conf,
              stdin='user pw 1\nrelay pw\n')
    check(r.returncode == 0, 'setup replaces the placeholder configuration',
          r.stderr)
    text = open(conf, encoding='utf-8').read()
    check('host = smtp.provider.example' in text and 'port = 465' in text and
          'tls  = implicit' in text and 'user = me@provider.example' in text,
          '[relay] written from --relay and --relay-user', text)
    sec = os.path.join(root, 'relay.secret')
    ok = os.path.exists(sec)
    check(ok and open(sec).read() == 'relay pw\n' and
          stat.S_IMODE(os.stat(sec).st_mode) == 0o600 and
          os.stat(sec).st_uid == env.uid,
          'relay.secret holds the second stdin line, 0600, the account\'s')
    check('include:provider.example' in r.stdout, 'SPF names the relay')
    r = setup(root=root, conf=conf, stdin='x pass 01\n')
    check(r.returncode == 1, 'a real configuration is not a placeholder')
    r = setup('--force', root=root, conf=conf, stdin='y pass 01\n')
    check(r.returncode == 0, '--force writes a new set-up', r.stderr)
    r = setup('--relay-user', 'x', root=env.path('box4'))
    check(r.returncode == 2, '--relay-user without --relay is a usage error')


ft.run_tests(env, [test_setup_empty_dir, test_again_refused, test_round_trip,
                   test_generated_password, test_placeholder_and_relay,
                   test_public_listen])
