# SPDX-License-Identifier: ISC
"""test_acme - `facteur-keytool acme issue|renew` against pebble (Debian's
package of Let's Encrypt's test CA), and the live reload that follows
(issue 13).

pebble serves ACME on a loopback port with a certificate from a test CA
made here ([acme] ca_file), resolves mail.example.org through
dns_server.py (127.0.0.1) and fetches the HTTP-01 challenge on one port,
which is [acme] http (keytool's own listener) for `issue` and a Python
web server over [acme] webroot for the renewal.  smtpd and imapd run
throughout: sessions opened before a reload (SMTP after STARTTLS, IMAPS
logged in) must keep working, new connections must get the new
certificate, each daemon must log what it reloaded.  A new [relay]
password_file is picked up by the same SIGHUP (a smarthost that takes only
the new password).  pebble's certificates
live 10 days: `renew` with renew_before = 5d changes nothing, with the
default 30 days it replaces the certificate.  Bad input (a directory
nobody serves, a server that is not ACME, an order the CA refuses, a
challenge nobody answers) fails with a clear message; a webroot that is
missing or not writable fails before the CA is asked anything."""

import http.server
import imaplib
import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402
import relay_fixtures as rf  # noqa: E402

HOST = 'mail.example.org'
ALICE = 'alice@example.org'
PASS = 'correct horse'
env = ft.Env()
SMTP = env.port()       # port 25 role: STARTTLS
SMTPS = env.port()      # implicit TLS (465)
IMAPS = env.port()
ACME = env.port()       # pebble's ACME directory
MGMT = env.port()       # pebble's management interface (unused)
HTTP = env.port()       # where pebble fetches http-01 challenges
TLSALPN = env.port()
DNS = free_udp_tcp_port()
WEBROOT = env.path('www')
CA_FILE = env.path('pebble', 'ca.pem')
RELAY_SECRET = env.path('relay.secret')
state = {}


def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def pebble_tls():
    """A test CA and a certificate for 127.0.0.1 for pebble's listener."""
    d = env.path('pebble')
    os.makedirs(d, exist_ok=True)
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-nodes', '-keyout',
            f'{d}/ca.key', '-out', CA_FILE, '-days', '2', '-subj',
            '/CN=facteur test CA')
    openssl('req', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-nodes', '-keyout',
            f'{d}/key.pem', '-out', f'{d}/req.pem', '-subj', '/CN=pebble')
    with open(f'{d}/ext', 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    openssl('x509', '-req', '-in', f'{d}/req.pem', '-CA', CA_FILE,
            '-CAkey', f'{d}/ca.key', '-CAcreateserial', '-out',
            f'{d}/cert.pem', '-days', '2', '-extfile', f'{d}/ext')
    for f in os.listdir(d):
        env.chown(os.path.join(d, f))
    env.chown(d)
    return d


def start_pebble():
    d = pebble_tls()
    conf = {'pebble': {
        'listenAddress': f'127.0.0.1:{ACME}',
        'managementListenAddress': f'127.0.0.1:{MGMT}',
        'certificate': f'{d}/cert.pem', 'privateKey': f'{d}/key.pem',
        'httpPort': HTTP, 'tlsPort': TLSALPN,
        'ocspResponderURL': '', 'externalAccountBindingRequired': False,
        'domainBlocklist': ['blocked.example.org'],
        # 10 days: due for renewal under the default renew_before (30d)
        'certificateValidityPeriod': 10 * 86400}}
    with open(f'{d}/pebble.json', 'w') as f:
        json.dump(conf, f)
    penv = dict(os.environ, PEBBLE_VA_NOSLEEP='1', PEBBLE_WFE_NONCEREJECT='0',
                PEBBLE_AUTHZREUSE='0')
    log = open(env.path('logs', 'pebble.log'), 'ab')
    p = subprocess.Popen(['pebble', '-config', f'{d}/pebble.json',
                          '-dnsserver', f'127.0.0.1:{DNS}'],
                         stdout=log, stderr=subprocess.STDOUT, env=penv,
                         cwd=d, start_new_session=True)
    state['pebble'] = p
    if not ft.wait_port(ACME, timeout=20, proc=p):
        raise RuntimeError('pebble did not start: ' +
                           open(env.path('logs', 'pebble.log')).read())


def acme_section(**kw):
    sec = {'directory': f'https://127.0.0.1:{ACME}/dir',
           'ca_file': CA_FILE, 'email': 'postmaster@example.org',
           'http': f'127.0.0.1:{HTTP}', 'timeout': '20s',
           'renew_before': '5d'}
    sec.update(kw)
    return sec


def config(**acme):
    env.write_config(
        hostname=HOST,
        smtp={'listen': f'127.0.0.1:{SMTP}', 'submissions':
              f'127.0.0.1:{SMTPS}', 'timeout': '30s'},
        imap={'listen': [f'127.0.0.1:{IMAPS}']},
        relay={'host': 'localhost', 'port': state['sink'].port,
               'tls': 'starttls', 'verify': False, 'user': rf.RELAY_USER,
               'password_file': RELAY_SECRET},
        acme=acme_section(**acme))


def write_secret(pw):
    with open(RELAY_SECRET + '.tmp', 'w') as f:
        f.write(pw + '\n')
    os.chmod(RELAY_SECRET + '.tmp', 0o600)
    env.chown(RELAY_SECRET + '.tmp')
    os.rename(RELAY_SECRET + '.tmp', RELAY_SECRET)


def keytool_acme(cmd):
    t = time.time()
    r = env.keytool('acme', cmd, check_rc=False)
    return r, time.time() - t


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def smtps_cert():
    with socket.create_connection(('127.0.0.1', SMTPS), timeout=10) as s:
        with tls_ctx().wrap_socket(s, server_hostname=HOST) as t:
            return t.getpeercert(binary_form=True)


def starttls_cert():
    c = ft.RawSMTP(SMTP)
    try:
        c.ehlo()
        c.cmd('STARTTLS')
        c.starttls(HOST)
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def imaps_cert():
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=tls_ctx(),
                          timeout=10)
    der = m.sock.getpeercert(binary_form=True)
    m.logout()
    return der


def file_cert():
    with open(env.cert) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def wait_cert(fetch, want, timeout=15):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        try:
            got = fetch()
            if got == want:
                return True
        except (OSError, ssl.SSLError, imaplib.IMAP4.error, EOFError):
            pass
        time.sleep(0.1)
    return False


def old_sessions():
    """An SMTP session after STARTTLS and an IMAPS login, opened now."""
    s = ft.RawSMTP(SMTP, timeout=30)
    s.ehlo()
    s.cmd('STARTTLS')
    s.starttls(HOST)
    s.ehlo()
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=tls_ctx(),
                          timeout=30)
    m.login(ALICE, PASS)
    m.select('INBOX')
    return s, m


def sessions_work(s, m, what):
    code, _ = s.cmd(f'MAIL FROM:<{ALICE}>')
    check(code in (250, 530), f'{what}: the SMTP session opened before '
          'still answers', code)
    check(s.cmd('RSET')[0] == 250 and s.cmd('NOOP')[0] == 250,
          f'{what}: and keeps going')
    check(m.noop()[0] == 'OK', f'{what}: the IMAP session opened before '
          'still works')
    s.cmd('QUIT')
    s.close()
    m.logout()


def test_setup():
    os.makedirs(WEBROOT, exist_ok=True)
    env.chown(WEBROOT)
    dns = DNSServer(DNS)
    dns.add(HOST, 'A', '127.0.0.1')
    dns.start()
    state['dns'] = dns
    start_pebble()
    # the smarthost takes only the password the relay learns by reload
    pki_dir = env.path('pki')
    os.makedirs(pki_dir)
    pki = rf.make_pki(pki_dir)
    state['sink'] = rf.Sink(env, pki, starttls='good', auth=True,
                            password='the-new-password')
    write_secret('the-old-password')
    config()
    env.add_user(ALICE, PASS)
    env.start('authd')
    env.start('smtpd', ports=[SMTP, SMTPS])
    env.start('imapd', ports=[IMAPS])
    # the daemons' SIGHUP handlers are in place once they say so
    deadline = time.time() + 10
    while time.time() < deadline and not (
            'ready:' in env.daemons['smtpd'].log_text() and
            'started' in env.daemons['imapd'].log_text()):
        time.sleep(0.1)
    state['selfsigned'] = file_cert()


def test_issue():
    s, m = old_sessions()
    r, took = keytool_acme('issue')
    print(f'# acme issue: {took:.1f} s', flush=True)
    check(r.returncode == 0, 'acme issue succeeds', r.stdout + r.stderr)
    check('told facteur-smtpd' in r.stdout and 'told facteur-imapd' in
          r.stdout, 'it tells smtpd and imapd to reload', r.stdout)
    check(os.stat(env.key).st_mode & 0o777 == 0o600 and
          os.stat(env.cert).st_mode & 0o777 == 0o644,
          'key mode 0600, certificate 0644')
    akey = env.path('state', 'acme', 'account.key')
    check(os.path.exists(akey) and os.stat(akey).st_mode & 0o777 == 0o600,
          'account key made, mode 0600')
    new = file_cert()
    check(new != state['selfsigned'], 'a new certificate in [tls] cert')
    out = subprocess.run(['openssl', 'x509', '-noout', '-ext',
                          'subjectAltName', '-issuer'], input=open(
                              env.cert).read(), capture_output=True,
                         text=True).stdout
    check(f'DNS:{HOST}' in out and 'Pebble' in out,
          'issued by pebble for the hostname', out)
    check(wait_cert(smtps_cert, new), 'smtpd serves it on implicit TLS')
    check(wait_cert(starttls_cert, new), 'and after STARTTLS')
    check(wait_cert(imaps_cert, new), 'imapd serves it')
    sessions_work(s, m, 'after the reload')
    slog = env.daemons['smtpd'].log_text()
    check('reload: certificate' in slog and 'in use for new connections'
          in slog, 'smtpd logs what it reloaded', slog[-1500:])
    check('restarting the roles' not in slog,
          'smtpd did not restart its roles', slog[-1500:])
    check('reload:' in env.daemons['imapd'].log_text(),
          'imapd logs the reload')
    state['issued'] = new


def wait_log(name, text, count=1, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if env.daemons[name].log_text().count(text) >= count:
            return True
        time.sleep(0.1)
    return False


def test_relay_password():
    """A new [relay] password_file is used after SIGHUP, no restart."""
    s, m = old_sessions()
    c = smtplib.SMTP_SSL('127.0.0.1', SMTPS, context=tls_ctx(), timeout=20)
    c.login(ALICE, PASS)
    c.sendmail(ALICE, ['bob@example.net'], f'From: {ALICE}\r\nTo: '
               'bob@example.net\r\nSubject: relay password\r\n\r\nhi\r\n')
    c.quit()
    check(wait_log('smtpd', 'status=deferred'),
          'the old password is refused by the smarthost')
    write_secret('the-new-password')
    # earlier tests' reloads logged the same lines: wait for one more each
    log = env.daemons['smtpd'].log_text()
    parent = log.count('relay password reread from') + 1
    relay = log.count('reload: relay password reread for') + 1
    os.kill(env.daemons['smtpd'].proc.pid, signal.SIGHUP)
    check(wait_log('smtpd', 'relay password reread from', parent) and
          wait_log('smtpd', 'reload: relay password reread for', relay),
          'smtpd and its relay role log the new password',
          env.daemons['smtpd'].log_text()[-1500:])
    env.tool('ctl', 'queue', 'flush')
    deadline = time.time() + 15
    while time.time() < deadline and not state['sink'].msgs:
        time.sleep(0.1)
    check(len(state['sink'].msgs) == 1 and state['sink'].msgs[0].get('auth'),
          'after the reload the relay logs in with the new one',
          state['sink'].msgs)
    sessions_work(s, m, 'after the password reload')


def test_renew_selfsigned():
    """A self-signed certificate (setup, tls selfsigned) is always due."""
    env.keytool('tls', 'selfsigned', '--force')
    r, _ = keytool_acme('renew')
    check(r.returncode == 0 and 'nothing to do' not in r.stdout and
          'told facteur-smtpd' in r.stdout,
          'renew replaces a self-signed certificate', r.stdout + r.stderr)
    new = file_cert()
    check(new != state['issued'] and wait_cert(smtps_cert, new),
          'and smtpd serves the new one')
    state['issued'] = new


def ca_requests():
    """Requests pebble has served (it logs one line each)."""
    with open(env.path('logs', 'pebble.log'), errors='replace') as f:
        return f.read().count('-> calling handler()')


def test_renew_not_due():
    before = open(env.cert, 'rb').read()
    mtime = os.stat(env.cert).st_mtime_ns
    asked = ca_requests()
    r, took = keytool_acme('renew')
    check(r.returncode == 0 and 'nothing to do' in r.stdout,
          'renew when not due: exit 0, says so', r.stdout + r.stderr)
    check(open(env.cert, 'rb').read() == before and
          os.stat(env.cert).st_mtime_ns == mtime,
          'and leaves the certificate alone')
    check(ca_requests() == asked, 'without asking the CA',
          (ca_requests() - asked, took))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def web_server():
    """A web server over WEBROOT on pebble's challenge port (the NAS)."""
    handler = lambda *a, **k: Quiet(*a, directory=WEBROOT, **k)  # noqa
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', HTTP), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_renew_due_webroot():
    s, m = old_sessions()
    # pebble's certificates live 10 days: due under the default 30 days;
    # webroot mode
    config(renew_before=None, webroot=WEBROOT)
    srv = web_server()
    try:
        r, took = keytool_acme('renew')
    finally:
        srv.shutdown()
        srv.server_close()
    print(f'# acme renew (webroot): {took:.1f} s', flush=True)
    check(r.returncode == 0, 'renew when due succeeds (webroot)',
          r.stdout + r.stderr)
    new = file_cert()
    check(new != state['issued'], 'and replaces the certificate')
    left = os.listdir(os.path.join(WEBROOT, '.well-known',
                                   'acme-challenge'))
    check(left == [], 'challenge files removed from the webroot', left)
    check(wait_cert(smtps_cert, new), 'smtpd serves the renewed one')
    check(wait_cert(imaps_cert, new), 'imapd serves the renewed one')
    # the configuration changed: smtpd restarted its roles, so only the
    # IMAP session is expected to survive this one
    check(m.noop()[0] == 'OK', 'the IMAP session from before still works')
    s.close()
    m.logout()


def test_errors():
    closed = env.port()
    config(directory=f'https://127.0.0.1:{closed}/dir')
    r, _ = keytool_acme('issue')
    check(r.returncode == 1 and 'cannot connect' in r.stderr and
          f'127.0.0.1:{closed}/dir' in r.stderr,
          'unreachable directory: exit 1, says where and why', r.stderr)
    config(webroot=WEBROOT)     # and no web server: validation fails
    before = open(env.cert, 'rb').read()
    r, _ = keytool_acme('issue')
    check(r.returncode == 1 and f'could not validate {HOST}' in r.stderr,
          'challenge nobody answers: exit 1, the CA\'s reason', r.stderr)
    check(open(env.cert, 'rb').read() == before,
          'the certificate in place is untouched')
    # a webroot facteur-keytool cannot write in: said before any order
    # (an order whose challenge cannot be served fails at the CA and
    # counts against its rate limits)
    ro = env.path('www-ro')
    os.makedirs(ro, 0o555, exist_ok=True)
    os.chmod(ro, 0o555)
    env.chown(ro)
    for bad, why in ((env.path('no-www'), 'No such file or directory'),
                     (ro, 'Permission denied')):
        config(webroot=bad)
        with open(env.conf, encoding='utf-8') as f:
            line = 1 + [l.split('=')[0].strip() for l in f].index('webroot')
        asked = ca_requests()
        r, _ = keytool_acme('issue')
        check(r.returncode == 1 and
              f'{env.conf}:{line}: [acme] webroot {bad}' in r.stderr and
              why in r.stderr, f'webroot {os.path.basename(bad)}: exit 1, '
              'says which directory and why, at FILE:LINE', r.stderr)
        check(ca_requests() == asked, f'webroot {os.path.basename(bad)}: '
              'the CA is not asked anything', ca_requests() - asked)
    config(names='blocked.example.org')
    r, _ = keytool_acme('issue')
    check(r.returncode == 1 and 'refused' in r.stderr,
          'an order the CA refuses: exit 1, its reason', r.stderr)
    config(directory=f'https://127.0.0.1:{MGMT}/nothing-here')
    r, _ = keytool_acme('issue')
    check(r.returncode == 1 and 'not an ACME directory' in r.stderr,
          'not a directory: exit 1, says so', r.stderr)


def cleanup():
    p = state.get('pebble')
    if p is not None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
    if state.get('dns'):
        state['dns'].stop()
    if state.get('sink'):
        state['sink'].stop()


if shutil.which('pebble') is None:
    check(False, 'pebble is installed (tests/deps.sh)')
    sys.exit(ft.summary())
try:
    ft.run_tests(env, [test_setup, test_issue, test_relay_password,
                       test_renew_selfsigned, test_renew_not_due,
                       test_renew_due_webroot, test_errors])
finally:
    cleanup()
