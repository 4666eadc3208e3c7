# SPDX-License-Identifier: ISC
"""test_imap_login - facteur-imapd's login process runs only while there
are clients (issue 17, idle memory): none at idle, forked by the master on
the first connection (IMAPS, STARTTLS on 143, POP3S), gone after
min(60 s, [imap] timeout) with no session at all (here 1 s), kept alive by
a logged-in IDLE session it relays; a client that comes as it exits, or
while it is killed, is served by the next one; SIGHUP still replaces it
while open sessions go on.  Every wait polls a condition."""

import imaplib
import os
import poplib
import re
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402

ALICE = 'alice@example.org'
PASS = 'correct horse'
IDLE_S = 1                      # [imap] timeout: the login process's idle
env = None
IMAPS = IMAP = POP3S = 0


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def setup():
    global env, IMAPS, IMAP, POP3S
    env = ft.Env()
    IMAPS, IMAP, POP3S = env.port(), env.port(), env.port()
    env.write_config(imap={'listen': f'127.0.0.1:{IMAPS}',
                           'listen_starttls': f'127.0.0.1:{IMAP}',
                           'timeout': f'{IDLE_S}s'},
                     pop3={'listen': f'127.0.0.1:{POP3S}'})
    env.add_user(ALICE, PASS)
    env.start('authd')
    env.start('imapd', ports=[IMAPS, IMAP, POP3S])


def master():
    return env.daemons['imapd'].proc.pid


def logins():
    """pids of the master's children that are not workers"""
    log = env.daemons['imapd'].log_text()
    workers = set(int(p) for p in re.findall(r'worker user=\S+ pid=(\d+) '
                                             'started', log))
    return sorted(p for p, (pp, _) in ft.procs().items()
                  if pp == master() and p not in workers)


def state(pid):
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii') as f:
            st = f.read()
        return st[st.rindex(')') + 2]
    except OSError:
        return None


def wait_for(cond, timeout=20.0):
    return bool(ft.wait_for(cond, timeout))


def wait_no_login(timeout=20.0):
    return wait_for(lambda: not logins(), timeout)


def imaps():
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=ctx(), timeout=20)
    m.login(ALICE, PASS)
    return m


def greeting(s, timeout=20.0):
    """the first line the server sends on the plain socket s"""
    s.settimeout(timeout)
    data = b''
    while not data.endswith(b'\n'):
        b = s.recv(256)
        if not b:
            break
        data += b
    return data.decode('latin-1')


# ---------------------------------------------------------------------


def test_none_at_idle():
    # the start's port probe forked one: it leaves after IDLE_S
    log = env.daemons['imapd'].log_text
    ft.check(wait_for(lambda: re.search(r'login process pid=\d+ exited',
                                        log())),
             'the login process the start\'s probe forked exits',
             log()[-1500:])
    ft.check(not logins(), 'no login process at idle', logins())
    ft.check('restarting' not in log(),
             'an idle exit is not logged as a crash', log()[-1500:])
    ft.check(env.daemons['imapd'].alive(), 'the master stays')


def test_served_on_demand():
    ft.check(wait_no_login(), 'no login process before the client')
    m = imaps()
    ft.check(m.select('INBOX')[0] == 'OK', 'IMAPS client served')
    first = logins()
    ft.check(len(first) == 1, 'one login process while a client is on', first)
    p = poplib.POP3_SSL('127.0.0.1', POP3S, context=ctx(), timeout=20)
    p.user(ALICE)
    p.pass_(PASS)
    ft.check(p.stat()[0] == 0, 'POP3S client served by the same process')
    p.quit()
    s = imaplib.IMAP4('127.0.0.1', IMAP, timeout=20)
    s.starttls(ssl_context=ctx())
    s.login(ALICE, PASS)
    ft.check(s.noop()[0] == 'OK', 'STARTTLS on the plain port served')
    s.logout()
    ft.check(logins() == first, 'still the one login process', logins())
    m.logout()
    t0 = time.monotonic()
    ft.check(wait_no_login(), 'the login process exits when idle', logins())
    print(f'info the login process left {time.monotonic() - t0:.1f} s after '
          f'the last session ([imap] timeout {IDLE_S} s)')
    p = poplib.POP3_SSL('127.0.0.1', POP3S, context=ctx(), timeout=20)
    p.user(ALICE)
    p.pass_(PASS)
    ft.check(p.stat()[0] == 0, 'the next client (POP3S) is served')
    ft.check(logins() and logins() != first, 'by a new login process',
             (first, logins()))
    p.quit()


def idle_start(m):
    """IDLE on m (no [imap] timeout in IDLE); returns its tag"""
    tag = m._new_tag().decode()     # pylint: disable=protected-access
    m.send(f'{tag} IDLE\r\n'.encode())
    ft.check(m.readline().startswith(b'+'), 'IDLE accepted')
    return tag


def idle_check(m, tag, what):
    """a delivery reaches m in IDLE; then DONE and LOGOUT"""
    env.put_message(ALICE, 'Subject: idle\n\nhi\n')
    m.sock.settimeout(20)
    line = m.readline()
    ft.check(b'EXISTS' in line, what, line)
    m.send(b'DONE\r\n')
    while not (line := m.readline()).startswith(tag.encode()) and line:
        pass
    ft.check(b'OK' in line, 'IDLE done', line)
    m.logout()


def test_idle_session_keeps_it():
    m = imaps()
    m.select('INBOX')
    pid = logins()
    tag = idle_start(m)
    # the login process relays it: it stays past 2.5 times its idle time
    lost = wait_for(lambda: logins() != pid, 2.5 * IDLE_S)
    ft.check(not lost, 'a relayed IDLE session keeps the login process',
             (pid, logins()))
    idle_check(m, tag, 'IDLE sees the delivery through it')
    ft.check(wait_no_login(), 'then it exits', logins())


def new_login():
    """Connect and close at once: the pid of the login process the master
    forks for it (it may have exited since: IDLE_S after the close), or
    None"""
    s = socket.create_connection(('127.0.0.1', IMAPS), timeout=20)
    s.close()
    return ft.wait_for(lambda: len(now := logins()) == 1 and now[0]) or None


def stopped_login():
    """new_login(), stopped (SIGSTOP) before its idle exit, or None when
    it had already exited (a loaded machine can take IDLE_S to see it)"""
    pid = new_login()
    if not pid:
        return None
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return None
    wait_for(lambda: state(pid) in ('T', 'Z', None))
    if state(pid) == 'T':
        return pid
    os.kill(pid, signal.SIGCONT)    # a zombie: it had exited
    return None


def test_client_as_it_exits():
    """A client that connects while the login process decides to exit,
    whichever side sees it first, is served."""
    # held: the client waits in the listen queue while the idle time
    # passes (a deliberate wait, not a poll); resumed, the process has
    # the expired timer and the client at once, and serves the client
    pid = None
    for _ in range(5):
        pid = stopped_login()
        if pid is not None:
            break
    ft.check(pid is not None, 'a login process, held before its idle exit')
    if pid is None:
        return
    try:
        c = socket.create_connection(('127.0.0.1', IMAPS), timeout=20)
        time.sleep(IDLE_S + 0.5)    # past its idle time, on purpose
    finally:
        os.kill(pid, signal.SIGCONT)
    c = ctx().wrap_socket(c)
    ft.check(greeting(c).startswith('* OK'), 'client served at the idle '
             'deadline', '')
    ft.check(logins() == [pid], 'by the same login process', logins())
    c.close()
    ft.check(wait_no_login(), 'which then exits')
    # exited, not yet seen by the master: the client waits in the queue
    # until the master watches the listeners again
    pid = new_login()
    ft.check(pid is not None, 'a login process again')
    if pid is None:
        return
    os.kill(master(), signal.SIGSTOP)
    try:
        gone = wait_for(lambda: state(pid) in ('Z', None))
        ft.check(gone, 'the login process exits (master held)', state(pid))
        c = socket.create_connection(('127.0.0.1', IMAPS), timeout=20)
    finally:
        os.kill(master(), signal.SIGCONT)
    c = ctx().wrap_socket(c)
    ft.check(greeting(c).startswith('* OK'),
             'client that came after the exit served', '')
    c.close()


def test_killed_with_a_client_waiting():
    m = imaps()
    # the previous test's login process may be leaving (idle) as m came:
    # then m is served by a new one, and the old one shows until reaped
    pid = ft.wait_for(lambda: len(now := logins()) == 1 and now) or logins()
    ft.check(len(pid) == 1, 'a login process', pid)
    if len(pid) != 1:
        return
    os.kill(pid[0], signal.SIGSTOP)       # the client stays in the queue
    c = socket.create_connection(('127.0.0.1', IMAPS), timeout=20)
    os.kill(pid[0], signal.SIGKILL)
    t0 = time.monotonic()
    c = ctx().wrap_socket(c)
    ft.check(greeting(c).startswith('* OK'),
             'the waiting client is served after the restart')
    took = time.monotonic() - t0
    ft.check(took >= 0.9, 'after the 1 s back-off', took)
    print(f'info waiting client served {took:.1f} s after SIGKILL')
    c.close()
    try:
        m.noop()
        ft.check(False, 'the killed process\'s session ends')
    except (imaplib.IMAP4.abort, OSError):
        pass
    ft.check('restarting' in env.daemons['imapd'].log_text(),
             'a crash is logged as one')


def test_reload():
    old = imaps()
    ft.check(old.select('INBOX')[0] == 'OK', 'session before SIGHUP')
    tag = idle_start(old)
    before = logins()
    log = env.daemons['imapd'].log_text
    n = log().count('replaced after a reload')
    os.kill(master(), signal.SIGHUP)
    # the old one has closed its listeners: new clients go to a new one
    ft.check(wait_for(lambda: log().count('replaced after a reload') > n),
             'the login process is replaced', log()[-1500:])
    m = imaps()
    ft.check(m.noop()[0] == 'OK', 'a new client after SIGHUP')
    # (the master's short-lived certificate check child may still show)
    wait_for(lambda: len(logins()) == 2, 10)
    now = logins()
    ft.check(len(now) == 2 and set(before) < set(now),
             'served by a new login process beside the old', (before, now))
    m.logout()
    idle_check(old, tag, 'the open session goes on')
    ft.check(wait_for(lambda: 'replaced login process' in log()),
             'the replaced one ends with its session')
    ft.check(wait_no_login(), 'and the new one when idle', logins())
    s = imaps()
    ft.check(s.noop()[0] == 'OK', 'served after all that')
    s.logout()


ft.main(lambda: env, setup, [test_none_at_idle, test_served_on_demand,
                             test_idle_session_keeps_it,
                             test_client_as_it_exits,
                             test_killed_with_a_client_waiting, test_reload])
