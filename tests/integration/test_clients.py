# SPDX-License-Identifier: ISC
"""test_clients - the mail programs and devices home users point at
facteur, run as users run them (Debian's msmtp, s-nail, mutt, sendemail),
and a device's SMTP dialogue as scanners, cameras and UPS daemons speak it.

Checked:
  - msmtp on submission (587, STARTTLS) and submissions (465), with a
    message that has no From, Date or Message-ID and msmtp told not to
    add them (--set-from-header=off --set-date-header=off): facteur adds
    From (the envelope sender), Date and Message-ID and DKIM-signs the
    From it added (dkimpy verifies the signature);
  - s-nail (mailx) with its smtp:// and smtps:// mta, mutt in batch mode
    (`mutt -s SUBJECT RCPT < body` with smtp_url), sendemail with -o tls=yes;
  - a device on port 25: MAIL FROM and RCPT TO without angle brackets,
    a message without From, Date or Message-ID and an 8-bit body without
    BODY=8BITMIME, delivered; bare LF in the body still refused (SPEC 6).
"""

import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

import dkim  # noqa: E402

ALICE = 'alice@example.org'
BOB = 'bob@example.org'
PASS = 'alice secret 1'
env = ft.Env()
P25, P587, P465 = env.port(), env.port(), env.port()
TXT = {}


def setup():
    env.write_config(
        domains='example.org',
        smtp={'listen': [f'127.0.0.1:{P25}'],
              'submission': [f'127.0.0.1:{P587}'],
              'submissions': [f'127.0.0.1:{P465}'], 'timeout': '10s'},
        inbound={'spf': 'no', 'dkim': 'no', 'dmarc': 'no'})
    env.add_user(ALICE, PASS)
    env.add_user(BOB, 'bob secret 2')
    r = env.keytool('dkim', 'generate', 'example.org', 'qa', '--ed25519')
    sign = [l.strip() for l in r.stdout.splitlines()
            if l.strip().startswith('sign')][0]
    txt = ''.join(l for l in r.stdout.splitlines() if 'v=DKIM1' in l)
    TXT['qa._domainkey.example.org.'] = txt[txt.index('v=DKIM1'):].strip(
        ' "').replace('" "', '').encode()
    with open(env.conf, 'a', encoding='utf-8') as f:
        f.write(f'\n[dkim]\n{sign}\n')
    env.start('authd')
    env.start('smtpd', ports=[P25, P587, P465])


def home():
    """A HOME for the clients, readable by no one else (msmtp wants its
    rc file 0600)."""
    h = env.path('home')
    os.makedirs(h, exist_ok=True)
    return h


def delivered(marker):
    got = env.wait_message(BOB, marker, timeout=20)
    check(len(got) == 1, f'{marker}: delivered once', len(got))
    return got[0] if got else b''


def header_block(msg):
    return msg.split(b'\n\n', 1)[0]


def dkim_ok(msg):
    def dnsfunc(name, timeout=5):
        return TXT.get(name.decode() if isinstance(name, bytes) else name)
    wire = msg.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    try:
        return dkim.DKIM(wire).verify(dnsfunc=dnsfunc)
    except Exception as e:  # pylint: disable=broad-except
        print(f'# dkimpy: {e!r}')
        return False


def msmtprc():
    rc = os.path.join(home(), 'msmtprc')
    with open(rc, 'w', encoding='utf-8') as f:
        f.write(f'''defaults
auth on
tls on
tls_trust_file {env.cert}
from {ALICE}
user {ALICE}
password {PASS}

account sub
host localhost
port {P587}
tls_starttls on

account subs
host localhost
port {P465}
tls_starttls off

account default : sub
''')
    os.chmod(rc, 0o600)
    return rc


def run(cmd, text, timeout=30):
    r = subprocess.run(cmd, input=text, capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, HOME=home()))
    return r


def test_msmtp():
    rc = msmtprc()
    for acct in ('sub', 'subs'):
        m = f'msmtp-{acct}-{os.getpid()}'
        r = run(['msmtp', '-C', rc, '-a', acct, BOB],
                f'To: {BOB}\nSubject: {m}\n\n{m}\n')
        check(r.returncode == 0, f'msmtp account {acct}: exit 0', r.stderr)
        msg = delivered(m)
        check(b'From: alice@example.org' in header_block(msg) or
              b'From: <alice@example.org>' in header_block(msg) or
              b'\nFrom:' in header_block(msg), f'{m}: has a From')
        check(dkim_ok(msg), f'{m}: DKIM signature verifies (dkimpy)')


def test_msmtp_no_from():
    """A message with only a Subject, msmtp adding nothing: facteur adds
    From, Date and Message-ID (RFC 6409 8) and signs them."""
    rc = msmtprc()
    m = f'msmtp-bare-{os.getpid()}'
    r = run(['msmtp', '-C', rc, '--set-from-header=off',
             '--set-date-header=off', '--set-msgid-header=off', '-f',
             'alice+nas@example.org', BOB], f'Subject: {m}\n\n{m}\n')
    if 'set-msgid-header' in r.stderr:   # older msmtp: no such option
        r = run(['msmtp', '-C', rc, '--set-from-header=off',
                 '--set-date-header=off', '-f', 'alice+nas@example.org',
                 BOB], f'Subject: {m}\n\n{m}\n')
    check(r.returncode == 0, 'msmtp, message without From/Date: exit 0',
          r.stderr)
    msg = delivered(m)
    hdr = header_block(msg)
    check(b'\nFrom: alice+nas@example.org\n' in hdr,
          'From added with the envelope sender', hdr)
    check(b'\nDate: ' in hdr and b'\nMessage-ID: <' in hdr.replace(
          b'Message-Id', b'Message-ID'), 'Date and Message-ID added', hdr)
    check(hdr.count(b'\nFrom:') == 1, 'one From field', hdr)
    check(dkim_ok(msg), 'the added From is DKIM-signed (dkimpy verifies)')
    log = env.daemons['smtpd'].log_text()
    check('no From field: added <alice+nas@example.org>' in log,
          'the log says the From was added')


def test_snail():
    for scheme, port, extra in (('smtp', P587, ['-S', 'smtp-use-starttls']),
                                ('smtps', P465, [])):
        m = f's-nail-{scheme}-{os.getpid()}'
        r = run(['s-nail', '-n', '-Sv15-compat', '-S',
                 f'mta={scheme}://alice%40example.org:'
                 f'{PASS.replace(" ", "%20")}@localhost:{port}',
                 '-S', f'tls-ca-file={env.cert}', '-S', f'from={ALICE}',
                 '-s', m] + extra + [BOB], f'{m} body\n')
        check(r.returncode == 0, f's-nail {scheme}: exit 0', r.stderr)
        check(dkim_ok(delivered(m)), f'{m}: DKIM signature verifies')


def test_mutt():
    h = home()
    muttrc = os.path.join(h, 'muttrc')
    for scheme, port, tls in (('smtp', P587, 'set ssl_starttls = yes'),
                              ('smtps', P465, '')):
        with open(muttrc, 'w', encoding='utf-8') as f:
            f.write(f'''set from = "Alice <{ALICE}>"
set smtp_url = "{scheme}://alice%40example.org@localhost:{port}/"
set smtp_pass = "{PASS}"
set ssl_force_tls = yes
{tls}
set certificate_file = "{env.cert}"
set record = ""
set copy = no
''')
        m = f'mutt-{scheme}-{os.getpid()}'
        r = run(['mutt', '-n', '-F', muttrc, '-s', m, BOB], f'{m} body\n')
        check(r.returncode == 0, f'mutt {scheme} batch: exit 0',
              r.stdout + r.stderr)
        check(dkim_ok(delivered(m)), f'{m}: DKIM signature verifies')


def test_sendemail():
    m = f'sendemail-{os.getpid()}'
    r = subprocess.run(
        ['sendemail', '-f', ALICE, '-t', BOB, '-u', m, '-m', f'{m} body',
         '-s', f'localhost:{P587}', '-xu', ALICE, '-xp', PASS,
         '-o', 'tls=yes'], capture_output=True, text=True, timeout=30,
        env=dict(os.environ, SSL_CERT_FILE=env.cert, HOME=home()))
    check(r.returncode == 0, 'sendemail -o tls=yes: exit 0',
          r.stdout + r.stderr)
    check(dkim_ok(delivered(m)), f'{m}: DKIM signature verifies')


def device(lines):
    """A device's dialogue on port 25, one reply per line sent."""
    s = socket.create_connection(('127.0.0.1', P25), timeout=20)
    f = s.makefile('rb')

    def reply():
        out = []
        while True:
            l = f.readline().decode('latin-1')
            out.append(l.rstrip('\r\n'))
            if len(l) < 4 or l[3] != '-':
                return out
    replies = [reply()]
    for l in lines:
        s.sendall(l if isinstance(l, bytes) else l.encode() + b'\r\n')
        replies.append(reply())
    s.close()
    return [r[-1] for r in replies]


def test_device_bare_addresses():
    m = f'device-{os.getpid()}'
    r = device(['EHLO scanner', 'MAIL FROM:scanner@nas.example.net',
                f'RCPT TO:{BOB}', 'RCPT TO:postmaster', 'DATA',
                f'Subject: {m} \xe9t\xe9\r\n\r\nscan \xe9\r\n.\r\n'
                .encode('latin-1'), 'QUIT'])
    check(r[2].startswith('250'), 'MAIL FROM without brackets: 250', r)
    check(r[3].startswith('250'), 'RCPT TO without brackets: 250', r)
    check(r[4].startswith('250'), 'RCPT TO:postmaster: 250', r)
    check(r[6].startswith('250'), '8-bit body without From/Date: 250', r)
    msg = delivered(m)
    check(b'Return-Path: <scanner@nas.example.net>' in msg,
          'the envelope sender as given', msg[:300])
    check(b'scan \xe9' in msg, '8-bit body kept as sent')
    r = device(['EHLO scanner', 'MAIL FROM:scanner@nas.example.net',
                f'RCPT TO:{BOB}', 'DATA', b'Subject: x\n\nbare LF\r\n.\r\n',
                'QUIT'])
    check(r[5].startswith('554 5.6.0'), 'bare LF still refused', r)
    r = device(['EHLO scanner', 'MAIL FROM:<scanner@x.example>',
                'RCPT TO:bob@example.org>', 'RCPT TO:<bob@example.org',
                'QUIT'])
    check(r[3].startswith('501') and r[4].startswith('501'),
          'half brackets refused with 501', r)


def main():
    missing = [p for p in ('msmtp', 's-nail', 'mutt', 'sendemail')
               if shutil.which(p) is None]
    check(not missing, 'clients installed (tests/deps.sh)', missing)
    ft.main(env, setup, [test_msmtp, test_msmtp_no_from, test_snail,
                         test_mutt, test_sendemail,
                         test_device_bare_addresses])


main()
