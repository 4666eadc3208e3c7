# SPDX-License-Identifier: ISC
"""test_user_mistakes - the command lines of the README's user guide, typed
the way a user types them (through /bin/sh, which is dash on Debian, as an
ordinary user), with the mistakes people make: each must fail with exit
status 2 (bad usage) or 1 and a message that names what is wrong (the
option, the argument, the file and line), never a bare usage text.

No daemon is started: every check runs a command-line program and reads
its exit status and stderr, so the whole test takes a few seconds.
"""

import imaplib
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess

import facteur_test as ft

env = ft.Env()


def sh(line, stdin=None):
    """Run one shell line with /bin/sh as the test user, the binaries
    first on PATH and FACTEUR_CONF unset; returns CompletedProcess."""
    e = env._preexec_env(ft.TOOL_ASAN)  # pylint: disable=protected-access
    e['PATH'] = env.bin + ':' + e.get('PATH', '/usr/bin:/bin')
    e.pop('FACTEUR_CONF', None)
    r = subprocess.run(['/bin/sh', '-c', line], input=stdin,
                       capture_output=True, text=True, timeout=60,
                       cwd=env.tmp, env=e,
                       **env._user_kw())  # pylint: disable=protected-access
    if any(m in r.stderr for m in ft.SANITIZER_MARKS):
        ft.check(False, f'{line}: no sanitizer report', r.stderr[-3000:])
    return r


def expect(line, rc, says, stdin=None):
    """line exits rc and its stderr contains every string of says."""
    r = sh(line, stdin)
    ft.check(r.returncode == rc, f'{line}: exit {rc}',
             f'exit {r.returncode}: {r.stderr}')
    for s in says:
        ft.check(s in r.stderr, f'{line}: says {s!r}', r.stderr)
    return r


IMAPS, SMTP, SMTP2 = env.port(), env.port(), env.port()
IMAPS2 = env.port()


def other_conf(name, old, new, state_dir=None):
    """A copy of the configuration with old replaced by new (and another
    state_dir): a second set-up tried beside the running one."""
    with open(env.conf, encoding='utf-8') as f:
        text = f.read().replace(old, new)
    if state_dir is not None:
        text = re.sub(r'(?m)^state_dir *=.*$', f'state_dir = {state_dir}',
                      text)
    path = env.path(name)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    env.chown(path)
    return path


def read_pid(name):
    with open(os.path.join(env.run_dir, name + '.pid'),
              encoding='utf-8') as f:
        return f.read().strip()


def setup():
    env.write_config(imap={'listen': [f'127.0.0.1:{IMAPS}']},
                     smtp={'listen': [f'127.0.0.1:{SMTP}']})
    env.add_user('alice@example.org', 'alice-pw')


def test_keytool_names_the_bad_argument():
    c = env.conf
    # the first word: a typo of a command
    expect(f'facteur-keytool -c {c} usr list', 2,
           ['unknown command "usr"', 'usage:'])
    # each subcommand names the misspelled option or word, and prints its
    # usage line once
    for line, says in [
            ('dkim generate example.org ed2026 --ed2551',
             'dkim: unknown option --ed2551'),
            ('dkim gen example.org x', 'dkim: unexpected argument "gen"'),
            ('dkim generate example.org x --rsa --ed25519',
             '--rsa or --ed25519, not both'),
            ('tls selfsigned --frce', 'tls: unknown option --frce'),
            ('doctor -v', 'doctor: unknown option -v'),
            ('dns x', 'dns: unexpected argument "x"'),
            ('acme isue', 'acme: unexpected argument "isue"'),
            ('user lst', 'user: unexpected argument "lst"'),
            ('user add', 'user: missing arguments'),
            ('alias ad x@example.org y@example.org',
             'alias: unexpected argument "ad"'),
            ('spf 192.0.2.1 a@example.org helo extra',
             'spf: unexpected argument "extra"'),
            ('accounts x', 'accounts: unexpected argument "x"')]:
        r = expect(f'facteur-keytool -c {c} {line}', 2, [says])
        ft.check(r.stderr.count('usage:') == 1,
                 f'{line}: one usage line', r.stderr)
    expect(f'facteur-keytool -c {env.path("new.conf")} setup example.org '
           '--usr alice', 2, ['setup: unknown option --usr'])
    expect(f'facteur-keytool -c {env.path("new.conf")} setup example.org '
           '--user', 2, ['setup: --user needs a value'])
    expect(f'facteur-keytool -c {env.path("new.conf")} setup', 2,
           ['setup: give the domain'])
    ft.check(not os.path.exists(env.path('new.conf')),
             'a refused setup writes no configuration')
    # the README's first-run line as an ordinary user: /etc is root's
    # (on a machine where facteur is installed, setup refuses for that)
    installed = os.path.exists('/etc/facteur/facteur.conf')
    if (not os.access('/etc', os.W_OK) or env.as_root) and not installed:
        r = expect('echo alice-pw | facteur-keytool setup example.org --user alice',
                   1, ['/etc/facteur', '--dir'])
        ft.check('--force' not in r.stderr,
                 'setup as a user: no --force advice when nothing was '
                 'written', r.stderr)


def test_alias_warnings():
    """An alias whose targets are no users (a typo, a user deleted later)
    made mail to it, or to the user it shadows, refused with '550 unknown
    user' and nothing said when it was made: keytool now warns."""
    k = f'facteur-keytool -c {env.conf}'
    r = expect(f'{k} alias add team@example.org alcie@example.org', 0,
               ['warning: team@example.org delivers to no mailbox'])
    r = sh(f'echo carol-pw | {k} user add carol@example.org && '
           f'{k} alias add alice@example.org carol@example.org && '
           f'{k} alias add fwd@example.org carol@example.org && '
           f'{k} user del carol@example.org')
    ft.check(r.returncode == 0, 'alias and user commands', r.stderr)
    ft.check('warning: alice@example.org is a user: its mail now goes to '
             'carol@example.org' in r.stderr,
             'an alias that takes a user\'s mail away is pointed out',
             r.stderr)
    for a in ('alice@example.org', 'fwd@example.org'):
        ft.check(f'warning: alias {a} (carol@example.org) now delivers to '
                 'no mailbox' in r.stderr,
                 f'user del names the alias {a} it leaves dangling', r.stderr)
    r = sh(f'{k} alias add @example.org alice@example.org && '
           f'{k} alias del @example.org && {k} alias del alice@example.org &&'
           f' {k} alias del fwd@example.org && {k} alias del team@example.org')
    ft.check(r.returncode == 0 and 'warning' not in r.stderr,
             'a catch-all and deletions: no warning', r.stderr)


def test_keytool_bare_name():
    """`facteur-keytool user add bob` was refused ("expected local@domain")
    though IMAP, POP3 and SMTP logins take the bare name when there is one
    domain.  keytool takes it the same way and stores the full address; with
    several domains it names them."""
    k = f'facteur-keytool -c {env.conf}'
    r = expect(f'echo bob-password | {k} user add Bob', 0, [])
    ft.check('added bob@example.org' in r.stdout, 'user add bob: the full '
             'address, lower-cased', r.stdout)
    r = expect(f'{k} user list', 0, [])
    ft.check('bob@example.org' in r.stdout.split('\n'),
             'users.db keeps the full address', r.stdout)
    r = expect(f'echo bob-password-2 | {k} user passwd bob', 0, [])
    ft.check('password changed for bob@example.org' in r.stdout,
             'user passwd bob', r.stdout)
    r = expect(f'{k} alias add info bob', 0, [])
    ft.check('info@example.org bob@example.org' in r.stdout,
             'alias add info bob', r.stdout)
    expect(f'{k} alias del info', 0, [])
    r = expect(f'{k} user del bob', 0, [])
    ft.check('deleted bob@example.org' in r.stdout, 'user del bob', r.stdout)
    expect(f'{k} user del b/ob', 1, ['b/ob: expected local@domain'])
    two = other_conf('two-domains.conf', 'domains = example.org',
                     'domains = example.org example.net')
    r = expect(f'echo bob-password | facteur-keytool -c {two} user add bob',
               1, ['bob: which domain?', 'bob@example.org', 'bob@example.net'])
    ft.check('expected' not in r.stderr, 'several domains: one message',
             r.stderr)


def test_short_password():
    """`user add` took any password, '1234' too, and the submission port
    faces the Internet: a guessed one makes a spam relay.  user add, user
    passwd and setup refuse one under 8 characters (characters, not bytes:
    'p\u00e4ssw\u00f6r' is 7 in 9 bytes of UTF-8), exit 1, nothing changed."""
    k = f'facteur-keytool -c {env.conf}'
    users_db = os.path.join(env.state_dir, 'users.db')
    with open(users_db, 'rb') as f:
        before = f.read()
    # printf's octal escapes: UTF-8 whatever the test's locale
    for pw in ('1234', 'seven77', 'p\\303\\244ssw\\303\\266r'):
        expect(f"printf '{pw}\\n' | {k} user add dan@example.org", 1,
               ['password refused', 'at least 8'])
    expect(f'echo alice | {k} user passwd alice@example.org', 1,
           ['password refused', 'at least 8'])
    with open(users_db, 'rb') as f:
        ft.check(f.read() == before, 'users.db unchanged: no dan, alice '
                 'keeps her password')
    r = expect(f"printf 'p\\303\\244ssw\\303\\266rd\\n' | "
               f"{k} user add dan@example.org", 0, [])
    ft.check('added dan@example.org' in r.stdout, '8 characters will do',
             r.stdout)
    expect(f'{k} user del dan@example.org', 0, [])
    box = env.path('shortbox')
    expect(f'echo short | facteur-keytool setup example.org --dir {box} '
           '--ports 12525,12587,12465,12993', 1,
           ['password refused', 'at least 8'])
    ft.check(not os.path.exists(os.path.join(box, 'facteur.conf')),
             'setup with a short password writes nothing')


def test_sendmail_names_the_bad_option():
    expect(f'echo hi | facteur-sendmail -C {env.conf} -x alice', 2,
           ['unknown option -x', 'usage:'])
    expect('echo hi | facteur-sendmail -f', 2, ['-f needs a value'])


def test_config_mistakes():
    """Each daemon refuses a configuration it does not understand, naming
    the file, the line (or the key) and what it expected."""
    base = open(env.conf, encoding='utf-8').read()
    secret = env.path('relay.secret')
    with open(secret, 'w', encoding='utf-8') as f:
        f.write('pw\n')
    os.chmod(secret, 0o644)
    env.chown(secret)
    bad = env.path('bad.conf')
    gone = env.path('gone.secret')
    n = base.count('\n') + 2       # the first line of extra in bad.conf
    for extra, says in [
            ('[relay]\nhost = smtp.example.net\nuser = me\n'
             f'password_file = {gone}\n',
             [f'bad.conf:{n + 3}: [relay] password_file {gone}',
              'No such file']),
            ('[fetch]\naccount = imaps://me@imap.example.net '
             f'alice@example.org password_file={gone}\n',
             [f'bad.conf:{n + 1}: [fetch] account me@imap.example.net',
              f'password_file {gone}: No such file']),
            ('[smtp]\nmax_client = 10\n', ['bad.conf:', 'unknown key "max_client"']),
            ('[smtp]\nmax_size = 35MB\n', ['bad.conf:', 'a size like 35M']),
            ('[relay]\nhost = "smtp.example.net"\n', ['bad.conf:', 'host']),
            ('[relay]\nhost = smtp.example.net\nuser = me\n'
             f'password_file = {secret}\n',
             ['[relay] password_file', secret, 'chmod 600'])]:
        with open(bad, 'w', encoding='utf-8') as f:
            f.write(base + '\n' + extra)
        env.chown(bad)
        r = sh(f'facteur-smtpd -c {bad} -d')
        ft.check(r.returncode == 1 and all(x in r.stderr for x in says),
                 f'smtpd refuses {extra.strip()!r} and says why',
                 f'exit {r.returncode}: {r.stderr}')


def root_sh(line, stdin=None):
    """Run one shell line as root (the administrator's `sudo`)."""
    e = env._preexec_env(ft.TOOL_ASAN)  # pylint: disable=protected-access
    e['PATH'] = env.bin + ':' + e.get('PATH', '/usr/bin:/bin')
    e['HOME'] = '/root'
    return subprocess.run(['/bin/sh', '-c', line], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          cwd=env.tmp, env=e)


def imap_login(user, password):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=ctx, timeout=20)
    try:
        m.login(user, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def test_root_keytool_on_a_user_setup():
    """An ordinary user's set-up (daemons started by that user, no role
    accounts), then the administrator runs keytool with sudo: users.db
    used to become root's 0600 and every login failed (authd: Permission
    denied); the DKIM and TLS keys root wrote were unreadable too, without
    a word."""
    if not env.as_root:
        print('# not root: nothing to check', flush=True)
        return
    env.start('authd')
    env.start('imapd', ports=[IMAPS])
    c = env.conf
    r = root_sh(f'echo bob-pw-1 | facteur-keytool -c {c} user add '
                'bob@example.org')
    ft.check(r.returncode == 0, 'root: user add', r.stderr)
    ft.check('warning' not in r.stderr, 'root: no warning about accounts',
             r.stderr)
    r = root_sh(f'facteur-keytool -c {c} alias add info@example.org '
                'bob@example.org')
    ft.check(r.returncode == 0, 'root: alias add', r.stderr)
    # keys stay root's (a root-started authd wants that): a warning says
    # how to hand them over
    key = env.path('state/dkim/example.org.ed1.key')
    r = root_sh(f'facteur-keytool -c {c} dkim generate example.org ed1 '
                '--ed25519')
    ft.check(r.returncode == 0 and f'chown {env.user} {key}' in r.stderr,
             'root: dkim generate says whose the key must be', r.stderr)
    r = root_sh(f'facteur-keytool -c {c} tls selfsigned --force')
    ft.check(r.returncode == 0 and f'chown {env.user} {env.key}' in r.stderr,
             'root: tls selfsigned says whose the key must be', r.stderr)
    # ... and doing what it says is enough for the user's daemons
    for f in (key, env.key):
        r = root_sh(f'chown {env.user} {f}')
        ft.check(r.returncode == 0, f'chown {f}', r.stderr)
    for f in ('state/users.db', 'state/aliases.db'):
        st = os.stat(env.path(f))
        ft.check(st.st_uid == env.uid, f'{f} belongs to {env.user}',
                 f'uid {st.st_uid}')
    ft.check(imap_login('bob@example.org', 'bob-pw-1'),
             'the user root added logs in')
    ft.check(imap_login('alice@example.org', 'alice-pw'),
             'the other users still log in')
    ft.check('Permission denied' not in env.daemons['authd'].log_text(),
             'authd could read users.db', env.daemons['authd'].log_text())


def send(port, tag):
    with smtplib.SMTP('127.0.0.1', port, timeout=20) as s:
        s.sendmail('someone@example.net', ['alice@example.org'],
                   f'From: someone@example.net\r\nSubject: {tag}\r\n\r\n'
                   f'{tag}\r\n')


def ensure(*names):
    """Start the daemons among names that are not running."""
    for n in names:
        if n not in env.daemons or not env.daemons[n].alive():
            env.start(n, ports={'smtpd': [SMTP], 'imapd': [IMAPS]}.get(n, []))


def test_second_smtpd_on_one_queue():
    """facteur-smtpd started a second time with another configuration on
    the same state_dir (other ports: a new set-up tried beside the running
    service) took over the sockets and removed the first one's queue
    files at its start, so mail the first one answered 250 for was lost
    (smtpd-queue: open: No such file or directory).  It must refuse to
    start, say why, and leave the first one working."""
    ensure('authd', 'smtpd')
    send(SMTP, 'before-second')
    ft.check(env.wait_message('alice@example.org', 'before-second'),
             'first smtpd delivers')
    pid = read_pid('smtpd')
    other = other_conf('other.conf', f'127.0.0.1:{SMTP}', f'127.0.0.1:{SMTP2}')
    r = sh(f'facteur-smtpd -c {other} -d')
    ft.check(r.returncode == 1 and 'another facteur-smtpd' in r.stderr and
             env.state_dir in r.stderr,
             'a second smtpd on the same state_dir refuses to start',
             f'exit {r.returncode}: {r.stderr}')
    # another state_dir, the same run_dir: it replaced smtpd.sock (where
    # facteur-sendmail submits) and smtpd.pid
    other = other_conf('other2.conf', f'127.0.0.1:{SMTP}',
                       f'127.0.0.1:{SMTP2}', env.path('state2'))
    r = sh(f'facteur-smtpd -c {other} -d')
    ft.check(r.returncode == 1 and
             f'another facteur-smtpd (pid {pid}) is running with run_dir '
             f'{env.run_dir}' in r.stderr,
             'a second smtpd on the same run_dir refuses to start',
             f'exit {r.returncode}: {r.stderr}')
    ft.check(read_pid('smtpd') == pid, 'smtpd.pid is the first one\'s',
             read_pid('smtpd'))
    for i in range(5):
        send(SMTP, f'after-second-{i}')
    ft.check(len(env.wait_message('alice@example.org', 'after-second-',
                                  count=5)) == 5,
             'the first smtpd still delivers everything it accepts')
    r = sh(f'echo "Subject: via-sendmail" | facteur-sendmail -C {env.conf} '
           'alice@example.org')
    ft.check(r.returncode == 0 and
             env.wait_message('alice@example.org', 'via-sendmail'),
             'and its facteur-sendmail socket is still there', r.stderr)


def test_second_authd():
    """facteur-authd started twice (by hand beside the service) unlinked
    the running one's socket, bound its own, and removed it when stopped:
    the first went on without a socket and every new login failed (authc:
    connect: No such file or directory).  The second must refuse."""
    ensure('authd', 'imapd')
    sock = os.path.join(env.run_dir, 'authd', 'authd.sock')
    r = sh(f'facteur-authd -c {env.conf} -d')
    ft.check(r.returncode == 1 and 'another facteur-authd' in r.stderr,
             'a second authd refuses to start', f'{r.returncode}: {r.stderr}')
    ft.check(os.path.exists(sock), 'the first one keeps its socket')
    ft.check(imap_login('alice@example.org', 'alice-pw'),
             'logins still work')


def test_second_imapd():
    """facteur-imapd started a second time beside the running one (another
    configuration with other ports on the same run_dir, or the same one)
    wrote its pid into imapd.pid, so that stopping imapd by its pid file
    stopped the wrong one, and served the same Maildirs with a second
    worker per user.  It must refuse before it binds a port, name the
    running one, and leave its pid file and logins alone."""
    ensure('authd', 'imapd')
    pid = read_pid('imapd')
    other = other_conf('other-imap.conf', f'127.0.0.1:{IMAPS}',
                       f'127.0.0.1:{IMAPS2}')
    for conf in (other, env.conf):
        r = sh(f'facteur-imapd -c {conf} -d')
        ft.check(r.returncode == 1 and
                 f'another facteur-imapd (pid {pid}) is running with '
                 f'run_dir {env.run_dir}' in r.stderr,
                 f'a second imapd ({os.path.basename(conf)}) refuses to start',
                 f'exit {r.returncode}: {r.stderr}')
    ft.check(read_pid('imapd') == pid, 'imapd.pid is the first one\'s',
             read_pid('imapd'))
    with socket.socket() as c:
        ft.check(c.connect_ex(('127.0.0.1', IMAPS2)) != 0,
                 'the second one bound nothing')
    ft.check(imap_login('alice@example.org', 'alice-pw'),
             'logins to the first one still work')
    env.stop('imapd')
    ensure('imapd')
    # with -d imapd binds its ports before it writes its pid (into the
    # file it locked first): the port can accept before the pid is there
    new = str(env.daemons['imapd'].proc.pid)
    ft.check(ft.wait_for(lambda: read_pid('imapd') == new, timeout=10),
             'a restart takes the lock again at once (the old workers and '
             'login processes did not hold it)', read_pid('imapd'))


def test_fetch_added_then_reload():
    """README: a [fetch] change is applied by SIGHUP ("Reloading": its
    roles restart).  A fetch role started by a reload had neither its
    state directory nor its password ("fetch: no state directory") and
    fetched nothing until a restart."""
    # the remote is our own IMAPS, with a certificate for 127.0.0.1 (the
    # root test may have replaced it by keytool's, for localhost only)
    if 'imapd' in env.daemons and env.daemons['imapd'].alive():
        env.stop('imapd')
    env.make_cert()
    ensure('authd', 'imapd', 'smtpd')
    env.add_user('fallback@example.org', 'fallback-pw')
    env.put_message('fallback@example.org',
                    'From: <x@provider.test>\nSubject: fetched-after-hup\n\n'
                    'fetched-after-hup\n')
    pw = env.path('fallback.secret')
    with open(pw, 'w', encoding='utf-8') as f:
        f.write('fallback-pw\n')
    os.chmod(pw, 0o600)
    env.chown(pw)
    with open(env.conf, 'a', encoding='utf-8') as f:
        f.write(f'\n[fetch]\naccount = imaps://fallback%40example.org@'
                f'127.0.0.1:{IMAPS} alice@example.org password_file={pw} '
                f'ca_file={env.cert} interval=1h\n')
    os.kill(env.daemons['smtpd'].proc.pid, signal.SIGHUP)
    ft.check(env.wait_message('alice@example.org', 'fetched-after-hup'),
             'a [fetch] account added by a reload fetches',
             env.daemons['smtpd'].log_text()[-2000:])
    ft.check('no state directory' not in env.daemons['smtpd'].log_text(),
             'the fetch role has its state directory')


def test_sendmail_cron_output():
    """A cron job's output piped to facteur-sendmail: a line longer than
    998 octets (a log line, an HTML report) or a progress bar's lone CRs
    got 'message refused: 500 5.5.2 Line too long' / '554 5.6.0 Bare CR',
    exit 1, and the output was lost.  Long lines are now broken (as
    Postfix's smtp_line_length_limit does), a lone CR ends a line."""
    ensure('authd', 'smtpd')
    long_hdr = 'h' * 1500
    long_body = '.' + 'x' * 2500
    script = env.path('cron-job.sh')
    with open(script, 'w', encoding='utf-8') as f:
        f.write('#!/bin/sh\n'
                'echo "Subject: cron-output"\n'
                f'echo "X-Long: {long_hdr}"\n'
                'echo\n'
                f'echo "{long_body}"\n'
                'printf "progress 10%%\\r50%%\\r100%%\\n"\n'
                'echo "cron-done"\n')
    os.chmod(script, 0o755)
    r = sh(f'{script} | facteur-sendmail -C {env.conf} alice@example.org')
    ft.check(r.returncode == 0, 'sendmail takes long lines and lone CRs',
             r.stderr)
    got = env.wait_message('alice@example.org', 'cron-done')
    ft.check(len(got) == 1, 'the cron output is delivered')
    if got:
        text = got[0].decode('utf-8', 'replace')
        lines = text.split('\n')
        ft.check(max(len(x.rstrip('\r')) for x in lines) <= 998,
                 'no line over 998 octets')
        head, _, body = text.partition('\n\n')
        ft.check(body.startswith('.' + 'x' * 997 + '\n' + 'x' * 998 + '\n' +
                                 'x' * 505 + '\n'),
                 'the long body line is all there, broken at 998', body[:80])
        ft.check('X-Long: ' + 'h' * 990 + '\n ' + 'h' * 510 + '\n\n' in text,
                 'the long header is folded, not cut', head)
        ft.check('progress 10%\n50%\n100%\n' in text,
                 'each lone CR ends a line')


def main():
    ft.main(env, setup, [test_keytool_names_the_bad_argument,
                         test_config_mistakes,
                         test_alias_warnings,
                         test_keytool_bare_name,
                         test_short_password,
                         test_sendmail_names_the_bad_option,
                         test_root_keytool_on_a_user_setup,
                         test_second_smtpd_on_one_queue,
                         test_second_authd,
                         test_second_imapd,
                         test_fetch_added_then_reload,
                         test_sendmail_cron_output])


if __name__ == '__main__':
    main()
