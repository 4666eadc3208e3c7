# SPDX-License-Identifier: ISC
"""test_reload - SIGHUP rereads the configuration (issue 7): facteur-authd
and facteur-imapd, each with a bad new file (the running configuration
stays, the log says which line is wrong) and then a good one (it takes
effect).  For imapd the good file brings a new certificate: new connections
get it, a session opened before the reload goes on until it logs out, and
the replaced login process then ends.

Observable effects used: authd accepts a bare local part at LOGIN only
while exactly one domain is configured (authd/README.md), so adding a
domain by reload makes "alice" alone fail; imapd's certificate is what the
TLS handshake shows."""

import imaplib
import os
import signal
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

ALICE = 'alice@example.org'
PASS = 'correct horse'
env = ft.Env()
PORT = env.port()


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def connect(user=ALICE):
    m = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=ctx(), timeout=60)
    if user:
        m.login(user, PASS)
    return m


def login_ok(user):
    try:
        m = connect(None)
    except OSError as e:
        return f'connect: {e}'
    try:
        m.login(user, PASS)
        m.logout()
        return True
    except imaplib.IMAP4.error:
        return False


def peer_cert():
    m = connect(None)
    der = m.sock.getpeercert(binary_form=True)
    m.logout()
    return der


def make_cert(name):
    cert = env.path('tls', f'{name}.pem')
    key = env.path('tls', f'{name}.key')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
         'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
         '-out', cert, '-days', '2', '-subj', f'/CN={name}'],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o600)
    env.chown(key)
    env.chown(cert)
    return cert, key


def config(domains='example.org', tls=None, extra=''):
    """Write the configuration; extra is appended as it is."""
    kw = {'domains': domains, 'imap': {'listen': [f'127.0.0.1:{PORT}']}}
    if tls is not None:
        # write_config's own tls= argument is a switch: add the section
        kw['tls'] = False
        extra = f'\n[tls]\ncert = {tls[0]}\nkey = {tls[1]}\n' + extra
    env.write_config(**kw)
    if extra:
        with open(env.conf, 'a', encoding='utf-8') as f:
            f.write(extra)


def hup_and_wait(name, marker, count_before, timeout=30.0):
    """SIGHUP the daemon's leader, wait until `marker` appears in its log
    one more time than count_before; returns the log text."""
    d = env.daemons[name]
    os.kill(d.proc.pid, signal.SIGHUP)
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = d.log_text()
        if text.count(marker) > count_before:
            return text
        time.sleep(0.1)
    return d.log_text()


def test_setup():
    config()
    env.add_user(ALICE, PASS)
    env.start('authd')
    env.start('imapd', ports=[PORT], wait=60)
    check(login_ok('alice') is True, 'one domain: a bare local part logs in')


def test_authd_bad_config():
    a = env.daemons['authd']
    n = a.log_text().count('keeping the running configuration')
    config(extra='\nfrobnicate = yes\n')
    text = hup_and_wait('authd', 'keeping the running configuration', n)
    check(text.count('keeping the running configuration') == n + 1,
          'authd logs that it keeps the running configuration',
          text[-1500:])
    check('frobnicate' in text and f'{env.conf}:' in text,
          'authd names the file, the line and the key', text[-1500:])
    check(a.alive(), 'authd still running after a bad reload')
    check(login_ok('alice') is True,
          'the old configuration still serves (bare local part)')


def test_authd_bad_dkim_key():
    a = env.daemons['authd']
    n = a.log_text().count('keeping the running configuration')
    missing = env.path('tls', 'no-such.key')
    config(domains='example.org example.net',
           extra=f'\n[dkim]\nsign = example.org s1 {missing}\n')
    text = hup_and_wait('authd', 'keeping the running configuration', n)
    check('[dkim] keys' in text[-2000:],
          'a DKIM key that does not load is a bad reload', text[-1500:])
    check(login_ok('alice') is True, 'still one domain after that')


def test_authd_good_config():
    a = env.daemons['authd']
    n = a.log_text().count('reload: ')
    config(domains='example.org example.net')
    text = hup_and_wait('authd', f'reload: {env.conf} loaded', 0)
    check(f'reload: {env.conf} loaded' in text, 'authd logs the reload',
          text[-1500:])
    check(a.alive(), 'authd still running after a good reload')
    check(login_ok('alice') is False,
          'two domains now: a bare local part is refused')
    check(login_ok(ALICE) is True, 'the full address still logs in')
    check(a.log_text().count('reload: ') > n, 'reload lines in the log')


def test_imapd_bad_then_good():
    i = env.daemons['imapd']
    before = peer_cert()
    n = i.log_text().count('keeping the running configuration')
    # a certificate file that does not exist: conf is fine, TLS is not
    config(domains='example.org example.net',
           tls=(env.path('tls', 'missing.pem'), env.path('tls', 'missing.key')))
    text = hup_and_wait('imapd', 'keeping the running configuration', n)
    check(text.count('keeping the running configuration') == n + 1,
          'imapd keeps the running configuration on a bad certificate',
          text[-1500:])
    n += 1
    config(domains='example.org example.net', extra='\n[imap]\nbogus = 1\n')
    text = hup_and_wait('imapd', 'keeping the running configuration', n)
    check('bogus' in text and f'{env.conf}:' in text,
          'imapd names the file, the line and the key', text[-1500:])
    check(i.alive() and peer_cert() == before,
          'imapd still serves with the old certificate')

    # a session opened before the good reload
    old = connect()
    check(old.select('INBOX')[0] == 'OK', 'session before the reload')
    new_cert = make_cert('renewed')
    config(domains='example.org example.net', tls=new_cert)
    text = hup_and_wait('imapd', f'reload: {env.conf} loaded', 0)
    check(f'reload: {env.conf} loaded' in text, 'imapd logs the reload',
          text[-1500:])
    deadline = time.time() + 30
    after = before
    while time.time() < deadline and after == before:
        try:
            after = peer_cert()
        except OSError:
            time.sleep(0.2)
    check(after != before, 'new connections get the new certificate')
    check(login_ok(ALICE) is True, 'and log in')
    check(old.noop()[0] == 'OK', 'the old session still works after reload')
    old.logout()
    deadline = time.time() + 30
    while time.time() < deadline and 'replaced login process' not in \
            i.log_text():
        time.sleep(0.2)
    check('replaced login process' in i.log_text(),
          'the replaced login process ends after its last session',
          i.log_text()[-1500:])
    check(i.alive(), 'imapd master still running')


ft.run_tests(env, [test_setup, test_authd_bad_config, test_authd_bad_dkim_key,
                   test_authd_good_config, test_imapd_bad_then_good])
