# SPDX-License-Identifier: ISC
"""test_greylist - greylisting on port 25 ([greylist], smtpd/greylist.c,
smtpd/smtp_session_grey.c), end to end with delay = 2s.

Clients come from different /24s of 127/8 (Linux answers on all of it),
so each is its own greylisting network.  A test DNS server (dns_server.py)
gives spf.example an SPF record that passes for 127.0.0.0/8; nospf.example
has none.

    127.0.1.1  a@nospf.example   451 4.7.1, 451 again at once, 250 after 2 s
    127.0.1.2  (same /24)        250 at once: the client is allow-listed
    127.0.2.1  b@spf.example     451, 250 after 2 s (SPF pass: domain seen)
    127.0.3.1  c@spf.example     250 at once: SPF pass for a domain seen
    127.0.4.1  c@nospf.example   451: no SPF pass
    127.0.5.1  e@nospf.example   451; smtpd restarted; 250 (entry kept)
    127.0.1.3  (after restart)   250 at once: the allow-list kept

Also: an unknown recipient still gets 550 (and no entry); the message
that passed is delivered; the log lines; the database is
state_dir/greylist.db, mode 0600; a bad [greylist] value, or a delay not
shorter than retry_window, stops facteur-smtpd with FILE:LINE.  Run as
root, the daemons run as an ordinary user here; the root start (file
given to user-smtp, written from the chroot, closed at a stop and a
reload) is test_greylist_root.py's.
"""

import os
import smtplib
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402

BOB = 'bob@example.org'
CAROL = 'carol@example.org'
DELAY = 2
env = ft.Env()
P25 = env.port()
DNS = DNSServer(free_udp_tcp_port())


def configure(**greylist):
    g = {'enable': True, 'delay': f'{DELAY}s', 'retry_window': '1h'}
    g.update(greylist)
    return env.write_config(
        hostname='mx.test', domains='example.org',
        smtp={'listen': [f'127.0.0.1:{P25}'], 'timeout': '30s'},
        dns={'resolver': f'127.0.0.1:{DNS.port}'},
        inbound={'spf': True, 'dkim': False, 'dmarc': False,
                 'timeout': '5s'},
        greylist=g)


def rcpt(src, sender, rcpts=(BOB,), body=None):
    """One transaction from source address src: the RCPT replies, and the
    DATA reply when body is given and a recipient was taken."""
    c = smtplib.SMTP('127.0.0.1', P25, local_hostname='client.test',
                     timeout=20, source_address=(src, 0))
    try:
        c.ehlo('client.test')
        c.mail(sender)
        codes = [c.rcpt(r) for r in rcpts]
        data = None
        if body is not None and any(code == 250 for code, _ in codes):
            data = c.data(body)
        return [(code, text.decode()) for code, text in codes], data
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            pass


def first(src, sender, rcpts=(BOB,)):
    codes, _ = rcpt(src, sender, rcpts)
    return codes[0]


def setup():
    DNS.add('spf.example', 'TXT', 'v=spf1 ip4:127.0.0.0/8 -all')
    DNS.add('nospf.example', 'A', '192.0.2.1')
    DNS.start()
    configure()
    env.add_user(BOB, 'bob pw 1')
    env.add_user(CAROL, 'carol pw 1')
    env.start('authd')
    env.start('smtpd', ports=[P25])


STATE = {}


def test_first_tries():
    STATE['t'] = {}
    for src, sender in (('127.0.1.1', 'a@nospf.example'),
                        ('127.0.2.1', 'b@spf.example'),
                        ('127.0.5.1', 'e@nospf.example')):
        code, text = first(src, sender)
        STATE['t'][src] = time.time()
        check(code == 451 and text.startswith('4.7.1 ') and 'Greylisted' in text,
              f'{src}: first try 451 4.7.1', (code, text))
    code, text = first('127.0.1.1', 'a@nospf.example')
    check(code == 451, 'retry before the delay: 451 again', (code, text))
    code, text = first('127.0.1.1', 'nobody@nospf.example', ('nosuch@example.org',))
    check(code == 550, 'an unknown recipient: 550, not greylisted', (code, text))
    log = env.daemons['smtpd'].log_text()
    check('greylist=defer-new from=<a@nospf.example> rcpt=<bob@example.org> '
          'retry_in=2s' in log and 'greylist=defer-early' in log,
          'log lines for the deferrals', log[-1500:])
    db = os.path.join(env.state_dir, 'greylist.db')
    check(os.path.exists(db) and stat.S_IMODE(os.stat(db).st_mode) == 0o600,
          'state_dir/greylist.db, mode 0600')


def test_retry_passes():
    wait = max(STATE['t'].values()) + DELAY + 0.05 - time.time()
    if wait > 0:
        time.sleep(wait)
    msg = (b'From: a@nospf.example\r\nTo: bob@example.org\r\n'
           b'Subject: greylist-retry\r\n\r\nhello\r\n')
    codes, data = rcpt('127.0.1.1', 'a@nospf.example', (BOB,), msg)
    check(codes[0][0] == 250 and data and data[0] == 250,
          'retry after the delay: 250, message taken', (codes, data))
    check(env.wait_message(BOB, b'greylist-retry'), 'the message is delivered')
    code, text = first('127.0.2.1', 'b@spf.example')
    check(code == 250, 'retry with SPF pass: 250', (code, text))
    log = env.daemons['smtpd'].log_text()
    check('greylist=pass-retry from=<b@spf.example> rcpt=<bob@example.org> '
          'spf_pass=spf.example' in log, 'log: pass-retry with the SPF domain',
          log[-1500:])


def test_allow_listed():
    t0 = time.time()
    code, text = first('127.0.1.2', 'new@other.example', (CAROL,))
    check(code == 250 and time.time() - t0 < 1.5,
          'a client of an allow-listed /24 passes at once', (code, text))


def test_spf_known_domain():
    code, text = first('127.0.3.1', 'c@spf.example', (CAROL,))
    check(code == 250, 'SPF pass for a domain seen before: 250 at once',
          (code, text))
    log = env.daemons['smtpd'].log_text()
    check('greylist=pass-spf from=<c@spf.example>' in log, 'log: pass-spf',
          log[-1000:])
    code, text = first('127.0.4.1', 'c@nospf.example', (CAROL,))
    check(code == 451, 'the same client without SPF pass: 451', (code, text))


def test_restart_keeps_entries():
    env.stop('smtpd')
    env.start('smtpd', ports=[P25])
    code, text = first('127.0.5.1', 'e@nospf.example')
    check(code == 250, 'after a restart the waiting entry is kept: 250',
          (code, text))
    code, text = first('127.0.1.3', 'z@nospf.example', (CAROL,))
    check(code == 250, 'after a restart the allow-list is kept: 250',
          (code, text))


def test_bad_config():
    path = configure(delay='soon')
    line = env.config_text.splitlines().index('delay = soon') + 1
    r = subprocess.run([env.binary('smtpd'), '-c', path, '-d'],
                       capture_output=True, timeout=30, check=False)
    err = r.stderr.decode('utf-8', 'replace')
    check(r.returncode == 1 and f'{path}:{line}: expected a duration' in err,
          'bad [greylist] delay: exit 1 with FILE:LINE', (r.returncode, err[-600:]))
    path = configure(delay='2h', retry_window='1h')
    r = subprocess.run([env.binary('smtpd'), '-c', path, '-d'],
                       capture_output=True, timeout=30, check=False)
    err = r.stderr.decode('utf-8', 'replace')
    check(r.returncode == 1 and 'expected delay (2h) to be shorter than '
          'retry_window (1h)' in err, 'delay past retry_window refused', err[-600:])
    configure()


TESTS = [test_first_tries, test_retry_passes, test_allow_listed,
         test_spf_known_domain, test_restart_keeps_entries, test_bad_config]

if __name__ == '__main__':
    T0 = time.time()
    ft.main(env, setup, TESTS)
