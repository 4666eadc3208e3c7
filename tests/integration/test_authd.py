#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# test_authd.py - facteur-authd over its real Unix socket: users and aliases
# made with the real facteur-keytool, logins (right, wrong, throttled),
# recipient lookups (aliases, catch-all, sub-addresses, loops), send-as
# lists, and garbage frames that must not hurt other clients.
#
# Environment: FACTEUR_BIN = directory with facteur-authd and facteur-keytool
# (default build/bin).  Prints "N passed, M failed"; exits 1 on failure.
# Run as root it also checks the privilege drop (to `nobody`) and that a
# peer with another uid is refused.

import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402

BIN = os.environ.get("FACTEUR_BIN", os.path.join(os.getcwd(), "build/bin"))
AUTHD = os.path.join(BIN, "facteur-authd")
KEYTOOL = os.path.join(BIN, "facteur-keytool")

HELLO, RCPT, LOGIN, SENDERS, DKIM_SIGN, DKIM_ALG, LOCAL, RELEASE, REPLY = \
    1, 2, 3, 4, 5, 6, 7, 8, 100
CHANGED = 101           # authd -> client: users.db/aliases.db changed
NOTIFIES = 1            # HELLO flag: CHANGED is sent
VERSION = 3
OK, NOTFOUND, FAIL, THROTTLED, TEMPFAIL = 0, 1, 2, 3, 4
HDR = struct.Struct("=IIII")

passed = 0
failed = 0


def check(cond, what, detail=None):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + ("" if detail is None else ": %r" % (detail,)))


def s(v):
    b = v.encode() if isinstance(v, str) else v
    return struct.pack("=I", len(b) + 1) + b + b"\0"


def u32(v):
    return struct.pack("=I", v)


class Peer:
    def __init__(self, path, hello=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(15)
        self.sock.connect(path)
        self.next_id = 1
        self.changed = 0        # AUTHD_CHANGED notices seen
        self.flags = None
        if hello:
            self.send(HELLO, u32(VERSION), rid=0)
            t, rid, p = self.recv()
            assert t == REPLY and rid == 0 and p[:4] == u32(OK), "hello"
            assert len(p) == 12 and p[4:8] == u32(VERSION), "hello answer"
            self.flags = struct.unpack("=I", p[8:12])[0]

    def send(self, typ, payload, rid=None, raw_len=None):
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        n = len(payload) if raw_len is None else raw_len
        self.sock.sendall(HDR.pack(typ, n, rid, 0) + payload)
        return rid

    def send_fd(self, typ, payload, fd):
        rid = self.next_id
        self.next_id += 1
        socket.send_fds(self.sock, [HDR.pack(typ, len(payload), rid, 1) +
                                    payload], [fd])
        t, r, p = self.recv()
        assert t == REPLY and r == rid, "answer id"
        return struct.unpack("=I", p[:4])[0], p[4:]

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError("closed")
            b += c
        return b

    def recv(self):
        """the next frame that is not a change notice (those are counted)"""
        while True:
            typ, n, rid, _ = HDR.unpack(self.recv_exact(HDR.size))
            p = self.recv_exact(n)
            if typ == CHANGED and rid == 0 and not p:
                self.changed += 1
                continue
            return typ, rid, p

    def wait_changed(self, before, timeout=10):
        """True once more than `before` change notices came"""
        self.sock.settimeout(0.1)
        end = time.monotonic() + timeout
        try:
            while self.changed <= before and time.monotonic() < end:
                try:
                    typ, rid, p = self.recv()
                except socket.timeout:
                    continue
                raise AssertionError(f"unexpected frame {typ} id {rid}")
        finally:
            self.sock.settimeout(15)
        return self.changed > before

    def closed(self):
        """True when authd closed the connection (EOF within 5 s)."""
        self.sock.settimeout(5)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def call(self, typ, payload):
        rid = self.send(typ, payload)
        t, r, p = self.recv()
        assert t == REPLY and r == rid, "answer id"
        return struct.unpack("=I", p[:4])[0], p[4:]

    def close(self):
        self.sock.close()


def strings(p):
    n = struct.unpack("=I", p[:4])[0]
    out, off = [], 4
    for _ in range(n):
        ln = struct.unpack("=I", p[off:off + 4])[0]
        out.append(p[off + 4:off + 4 + ln - 1].decode())
        off += 4 + ln
    return out


def login(peer, user, pw, ip="192.0.2.1", service="smtp"):
    return peer.call(LOGIN, s(service) + s(user) + s(pw) + s(ip))


def keytool(conf, *args, stdin=None):
    return subprocess.run([KEYTOOL, "-c", conf] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=60)


def children(pid):
    """the pids whose parent is pid (authd's hashers)"""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def data(b):
    return u32(len(b)) + b


def sign_req(domain, sel, grant):
    return s(domain) + s(sel) + u32(2) + data(b"\1" * 32) + data(grant)


def grant_of(rest):
    """the grant after the canonical user in a LOGIN answer, or None"""
    n = struct.unpack("=I", rest[:4])[0]
    rest = rest[4 + n:]
    if len(rest) < 4:
        return None
    return rest[4:4 + struct.unpack("=I", rest[:4])[0]]


def dkim_grants(p, sockpath, tmp):
    """issue 16: authd signs only for sessions it authenticated itself,
    and only for the domains of that user (or local account)"""
    res, _ = p.call(DKIM_SIGN, sign_req("example.org", "s1", os.urandom(16)))
    check(res == FAIL, "dkim sign with a made-up grant: refused")
    res, rest = login(p, "alice@example.org", "correct horse", service="imap")
    check(res == OK and grant_of(rest) is None, "an IMAP login gets no grant")
    res, rest = login(p, "bob@example.org", "b0b pass 1", ip="192.0.2.5")
    g = grant_of(rest)
    check(res == OK and g is not None and len(g) == 16,
          "an SMTP login gets a grant")
    g = g or b"\0" * 16
    res, rest = p.call(DKIM_SIGN, sign_req("example.org", "s1", g))
    check(res == OK and len(rest) == 4 + 64, "signed for bob's domain")
    res, _ = p.call(DKIM_SIGN, sign_req("example.net", "s2", g))
    check(res == FAIL, "not for a domain none of bob's addresses is in")
    res, _ = p.call(DKIM_SIGN, sign_req("example.org", "nokey", g))
    check(res == NOTFOUND, "a selector without a key: NOTFOUND")
    pid = os.fork()
    if pid == 0:        # another process may not use bob's grant
        try:
            q = Peer(sockpath)
            res, _ = q.call(DKIM_SIGN, sign_req("example.org", "s1", g))
            os._exit(0 if res == FAIL else 1)
        except Exception:  # pylint: disable=broad-except
            os._exit(2)
    _, st = os.waitpid(pid, 0)
    check(os.WEXITSTATUS(st) == 0, "another process cannot use the grant")
    res, _ = p.call(RELEASE, data(g))
    res2, _ = p.call(DKIM_SIGN, sign_req("example.org", "s1", g))
    check(res == OK and res2 == FAIL, "a released grant signs nothing")
    # a local grant: only for facteur-sendmail's connection to smtpd.sock
    a, b = socket.socketpair()
    res, _ = p.send_fd(LOCAL, b"", a.fileno())
    check(res == FAIL, "local grant for a socketpair: refused")
    a.close()
    b.close()
    q = Peer(sockpath)
    res, _ = p.send_fd(LOCAL, b"", q.sock.fileno())
    check(res == FAIL, "local grant for a connection to authd.sock: refused")
    q.close()
    path = os.path.join(tmp, "run", "smtpd.sock")
    lsn = socket.socket(socket.AF_UNIX)
    lsn.bind(path)
    lsn.listen(1)
    cl = socket.socket(socket.AF_UNIX)
    cl.connect(path)
    acc, _ = lsn.accept()
    res, rest = p.send_fd(LOCAL, b"", acc.fileno())
    lg = rest[4:] if res == OK else b"\0" * 16
    check(res == OK and len(lg) == 16,
          "local grant for a connection to smtpd.sock")
    res, _ = p.call(DKIM_SIGN, sign_req("example.org", "s1", lg))
    check(res == OK, "local grant signs for the account's domain")
    res, _ = p.call(DKIM_SIGN, sign_req("example.net", "s2", lg))
    check(res == FAIL, "local grant: not for another domain")
    for x in (cl, acc, lsn):
        x.close()
    os.unlink(path)


def main():
    global AUTHD, KEYTOOL
    root = os.geteuid() == 0
    tmp = tempfile.mkdtemp(prefix="facteur-authd-")
    os.chmod(tmp, 0o755)
    if root:
        # authd is started as nobody below: run copies in tmp, since the
        # checkout may be out of nobody's reach (/root is 0700; issue 13)
        bindir = ft.copy_binaries(os.path.join(tmp, "bin"), BIN)
        AUTHD = os.path.join(bindir, "facteur-authd")
        KEYTOOL = os.path.join(bindir, "facteur-keytool")
    user = "nobody" if root else pwd.getpwuid(os.geteuid()).pw_name
    conf = os.path.join(tmp, "facteur.conf")
    with open(conf, "w") as f:
        f.write("hostname = mail.example.org\n"
                "domains = example.org example.net\n"
                "state_dir = %s/state\n"
                "mail_dir = %s/mail/%%d/%%u\n"
                "run_dir = %s/run\n"
                "user = %s\n"
                # as root, the one-account mode (every role as nobody):
                # test_privsep.py tests the role accounts
                "%s"
                "log = stderr\n" % (tmp, tmp, tmp, user,
                                    "single_account = yes\n" if root else ""))
    sockpath = os.path.join(tmp, "run", "authd.sock")
    errlog = os.path.join(tmp, "authd.log")
    authd = None
    try:
        # users and aliases through the real keytool
        r = keytool(conf, "user", "add", "alice@example.org", stdin="correct horse\n")
        check(r.returncode == 0, "keytool user add alice")
        r = keytool(conf, "user", "add", "Bob@Example.ORG", stdin="b0b pass 1\n")
        check(r.returncode == 0, "keytool user add Bob (lower-cased)")
        r = keytool(conf, "user", "add", "eve@example.org", stdin="\n")
        check(r.returncode == 1 and "empty" in r.stderr, "keytool refuses an empty password")
        r = keytool(conf, "user", "add", "eve@elsewhere.com", stdin="x\n")
        check(r.returncode == 1, "keytool refuses a non-local domain")
        r = keytool(conf, "user", "frobnicate", "x@example.org")
        check(r.returncode == 2, "keytool bad usage exits 2")
        for a in (["family@example.org", "alice@example.org", "bob@example.org"],
                  ["@example.net", "alice@example.org"],
                  ["fwd@example.org", "friend@gmail.com"],
                  ["loop1@example.org", "loop2@example.org"],
                  ["loop2@example.org", "loop1@example.org"]):
            r = keytool(conf, "alias", "add", *a)
            check(r.returncode == 0, "keytool alias add " + " ".join(a))
        r = keytool(conf, "alias", "list")
        check("family@example.org alice@example.org bob@example.org" in r.stdout,
              "keytool alias list")
        r = keytool(conf, "user", "list")
        check(r.stdout.split() == ["alice@example.org", "bob@example.org"],
              "keytool user list")
        sign = []
        for dom, sel in (("example.org", "s1"), ("example.net", "s2")):
            r = keytool(conf, "dkim", "generate", dom, sel, "--ed25519")
            sign += re.findall(r"^\s*sign = (.+)$", r.stdout, re.M)
        check(len(sign) == 2, "keytool dkim generate: two keys")
        with open(conf, "a") as f:
            f.write("[dkim]\n" + "".join("sign = %s\n" % x for x in sign))

        env = dict(os.environ)
        # delay after 2 failures, block after 4, 3 s block; the window
        # (from the first failure of a key) outlasts the test however
        # slow the machine: the per-user count must not restart midway
        env["FACTEUR_AUTHD_THROTTLE"] = "2,4,3600,3"
        # LeakSanitizer cannot work in the chroot of a root start
        env["ASAN_OPTIONS"] = "detect_leaks=%d" % (0 if root else 1)
        authd = subprocess.Popen([AUTHD, "-c", conf, "-d"], env=env,
                                 stderr=open(errlog, "w"))
        deadline = time.monotonic() + 30    # ASan start, loaded machine
        while not os.path.exists(sockpath) and authd.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        check(os.path.exists(sockpath), "authd creates its socket")

        idle_rss = rss_kb(authd.pid)
        check(children(authd.pid) == [],
              "no hashing process before the first login (issue 17)")
        p = Peer(sockpath)
        check(True, "HELLO answered OK")

        def log_size():
            with open(errlog, "rb") as f:
                return len(f.read())

        def blocked_then(logged, addr, pw_ip):
            """wait until authd logged the block of addr (after byte
            logged of its log), then send bob's login with pw_ip; its id"""
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                with open(errlog, "rb") as f:
                    if re.search(rb"addr=%s failures=\d+ action=block" %
                                 re.escape(addr.encode()), f.read()[logged:]):
                        break
                time.sleep(0.02)
            return p.send(LOGIN, s("smtp") + s("bob@example.org") + pw_ip)

        def answers(n):
            """the next n answers: {id: (result, rest)}"""
            got = {}
            for _ in range(n):
                _, r, pl = p.recv()
                got[r] = (struct.unpack("=I", pl[:4])[0], pl[4:])
            return got

        # logins
        res, rest = login(p, "alice@example.org", "correct horse")
        check(res == OK and strings(u32(1) + rest) == ["alice@example.org"],
              "right password: OK with the canonical user")
        res, rest = login(p, "ALICE@Example.Org", "correct horse", ip="192.0.2.2")
        check(res == OK, "user name is case-insensitive")
        res, rest = login(p, "alice@example.org", "wrong", ip="192.0.2.3")
        check(res == FAIL and rest == u32(0), "wrong password: FAIL, no delay")
        res, _ = login(p, "nobody@example.org", "x", ip="192.0.2.3")
        check(res == FAIL, "unknown user: FAIL")
        res, _ = login(p, "alice", "correct horse", ip="192.0.2.4")
        check(res == FAIL, "bare local part refused with two local domains")
        n = len(children(authd.pid))
        check(1 <= n <= 2, "hashing processes forked on demand, at most "
              "[authd] hashers (2): %d" % n)

        # throttle per address: 2 free failures, then delays, block at 4
        ip = "198.51.100.7"
        res, rest = login(p, "bob@example.org", "guess1", ip=ip)
        check(res == FAIL and rest == u32(0), "failure 1: immediate")
        res, rest = login(p, "bob@example.org", "guess2", ip=ip)
        check(res == FAIL and rest == u32(0), "failure 2: immediate")
        t0 = time.monotonic()
        res, rest = login(p, "bob@example.org", "guess3", ip=ip)
        dt = time.monotonic() - t0
        check(res == FAIL and rest == u32(1000) and dt >= 0.9,
              "failure 3: delayed 1 s (%.2f s)" % dt)
        # while one answer is held back, others are served at once (a
        # held answer would take 2 s)
        logged = log_size()
        rid = p.send(LOGIN, s("smtp") + s("bob@example.org") + s("guess4") + s(ip))
        t0 = time.monotonic()
        res2, _ = p.call(RCPT, s("bob@example.org"))
        check(res2 == OK and time.monotonic() - t0 < 1.5,
              "a delayed answer does not block other requests")
        # failure 4 blocks the address for 3 s but is answered 2 s late:
        # the next login goes while that answer is held back, once authd
        # has logged the block (after the answer, a loaded machine may
        # leave less than the 3 s)
        rid5 = blocked_then(logged, ip, s("b0b pass 1") + s(ip))
        got = answers(2)
        check(got.get(rid) == (FAIL, u32(2000)),
              "failure 4: delayed 2 s, blocked", got)
        res, rest = got.get(rid5, (None, b""))
        check(res == THROTTLED and 1 <= struct.unpack("=I", rest)[0] <= 3,
              "blocked address: THROTTLED even with the right password", got)
        res, _ = login(p, "bob@example.org", "b0b pass 1", ip="198.51.100.8")
        check(res == OK, "another address is not blocked")
        time.sleep(3.5)     # the block began before it was logged
        res, _ = login(p, "bob@example.org", "b0b pass 1", ip=ip)
        check(res == OK, "block expires")
        # IPv6: one /64 counts as one address
        for i in range(3):
            login(p, "bob@example.org", "bad", ip="2001:db8:1:2::%x" % (i + 1))
        logged = log_size()
        rid4 = p.send(LOGIN, s("smtp") + s("bob@example.org") + s("bad") +
                      s("2001:db8:1:2::4"))
        rid5 = blocked_then(logged, "2001:db8:1:2::4",
                            s("b0b pass 1") + s("2001:db8:1:2::ffff"))
        got = answers(2)
        check(got.get(rid5, (None,))[0] == THROTTLED and
              got.get(rid4, (None,))[0] == FAIL,
              "IPv6 addresses of one /64 share a counter", got)
        # success resets the address counter
        ip2 = "203.0.113.5"
        login(p, "alice@example.org", "bad", ip=ip2)
        login(p, "alice@example.org", "bad", ip=ip2)
        login(p, "alice@example.org", "correct horse", ip=ip2)
        res, rest = login(p, "alice@example.org", "bad", ip=ip2)
        check(res == FAIL and rest == u32(0), "a success resets the address's count")

        # per user: after 8 (2 x block_after) failures, from fresh addresses
        for i in range(8):
            res, rest = login(p, "alice@example.org", "bad", ip="10.9.0.%d" % i)
        t0 = time.monotonic()
        res, rest = login(p, "alice@example.org", "bad", ip="10.9.1.1")
        delay = struct.unpack("=I", rest)[0]
        check(res == FAIL and delay >= 1000 and time.monotonic() - t0 >= 0.9,
              "many failures for one user: its failures are delayed (%d ms)" % delay)
        res, _ = login(p, "alice@example.org", "correct horse", ip="10.9.1.2")
        check(res == OK, "the owner still logs in (user not locked out)")

        with open(errlog) as f:
            log = f.read()
        check("auth failed service=smtp user=bob@example.org addr=198.51.100.7 "
              "failures=4 action=block" in log, "fail2ban line for a block")
        check("failures=3 action=delay" in log, "fail2ban line for a delay")
        check("correct horse" not in log and "b0b pass 1" not in log and "guess" not in log,
              "no password in the log")

        # recipients
        def rcpt(addr):
            res, rest = p.call(RCPT, s(addr))
            return res, (strings(rest) if res == OK else [])
        check(rcpt("alice@example.org") == (OK, ["alice@example.org"]), "rcpt user")
        check(rcpt("Alice+Lists@EXAMPLE.org") == (OK, ["alice@example.org"]),
              "rcpt sub-address, any case")
        check(rcpt("family@example.org") == (OK, ["alice@example.org", "bob@example.org"]),
              "rcpt alias")
        check(rcpt("family+x@example.org") == (OK, ["alice@example.org", "bob@example.org"]),
              "rcpt alias sub-address")
        check(rcpt("anything@example.net") == (OK, ["alice@example.org"]), "rcpt catch-all")
        check(rcpt("fwd@example.org") == (OK, ["friend@gmail.com"]), "rcpt foreign target")
        check(rcpt("nobody@example.org") == (NOTFOUND, []), "rcpt unknown")
        check(rcpt("loop1@example.org") == (NOTFOUND, []), "rcpt alias loop")
        # smtpd asks only about its own domains: one authd lacks means
        # authd's configuration is older (test_domain_added.py), so it
        # says "try again" rather than "unknown", which would bounce
        check(rcpt("someone@gmail.com") == (TEMPFAIL, []),
              "rcpt of a domain authd does not have: TEMPFAIL")

        # send-as
        res, rest = p.call(SENDERS, s("alice@example.org"))
        check(res == OK and strings(rest) == ["alice@example.org", "@example.net",
                                              "family@example.org"], "senders of alice")
        res, rest = p.call(SENDERS, s("nobody@example.org"))
        check(res == NOTFOUND, "senders of an unknown user")

        dkim_grants(p, sockpath, tmp)

        # keytool changes are seen by the running authd, and its clients
        # are told (AUTHD_CHANGED: smtpd keeps RCPT answers until then)
        check(p.flags == NOTIFIES, "HELLO says changes are notified", p.flags)
        seen = p.changed
        r = keytool(conf, "user", "add", "carol@example.net", stdin="c4rol pass 1\n")
        check(p.wait_changed(seen), "user add: AUTHD_CHANGED sent", p.changed)
        res, _ = login(p, "carol@example.net", "c4rol pass 1", ip="192.0.2.9")
        check(res == OK, "user added while authd runs can log in")
        r = keytool(conf, "user", "passwd", "carol@example.net", stdin="new pass 2\n")
        res, _ = login(p, "carol@example.net", "c4rol pass 1", ip="192.0.2.9")
        res2, _ = login(p, "carol@example.net", "new pass 2", ip="192.0.2.9")
        check(res == FAIL and res2 == OK, "password change seen at once")
        seen = p.changed
        keytool(conf, "user", "del", "carol@example.net")
        check(p.wait_changed(seen), "user del: AUTHD_CHANGED sent", p.changed)
        res, _ = login(p, "carol@example.net", "new pass 2", ip="192.0.2.9")
        check(res == FAIL, "deleted user cannot log in")
        check(rcpt("carol@example.net") == (OK, ["alice@example.org"]),
              "deleted user's mail goes to the catch-all")

        # garbage: each bad peer is closed, the others keep being served
        g = Peer(sockpath, hello=False)
        g.send(RCPT, s("alice@example.org"))
        check(g.closed(), "request before HELLO: closed")
        g = Peer(sockpath, hello=False)
        g.send(HELLO, u32(99), rid=0)
        check(g.closed(), "wrong protocol version: closed")
        g = Peer(sockpath)
        g.sock.sendall(HDR.pack(RCPT, 1 << 20, 1, 0))
        check(g.closed(), "oversized frame: closed")
        g = Peer(sockpath)
        g.send(RCPT, s("alice@example.org") + b"junk")
        check(g.closed(), "trailing bytes: closed")
        g = Peer(sockpath)
        g.send(LOGIN, struct.pack("=I", 1000) + b"smtp\0")
        check(g.closed(), "string longer than the frame: closed")
        g = Peer(sockpath)
        g.send(RCPT, struct.pack("=I", 6) + b"a\0b@c\0")
        check(g.closed(), "NUL inside a string: closed")
        g = Peer(sockpath)
        g.send(77, b"")
        check(g.closed(), "unknown request type: closed")
        g = Peer(sockpath)
        g.send(LOGIN, s("smtp") + s("alice@example.org") + s("a\r\nb") + s("1.2.3.4"))
        check(g.closed(), "CR LF in a password: closed")
        g = Peer(sockpath, hello=False)
        g.sock.sendall(os.urandom(3000))
        check(g.closed(), "random bytes: closed")
        g = Peer(sockpath)
        g.sock.sendall(HDR.pack(RCPT, 100, 1, 0) + b"x" * 10)
        g.close()       # half a frame, then gone
        check(rcpt("alice@example.org") == (OK, ["alice@example.org"]),
              "the first client is still served after all that")
        check(authd.poll() is None, "authd still running")

        # many clients at once
        peers = [Peer(sockpath) for _ in range(50)]
        ok = all(q.call(RCPT, s("bob@example.org"))[0] == OK for q in peers)
        for q in peers:
            q.close()
        check(ok, "50 concurrent clients")

        if root:
            # the privilege drop, and a peer with another uid
            st = os.stat("/proc/%d" % authd.pid)
            check(st.st_uid == pwd.getpwnam("nobody").pw_uid,
                  "authd runs as nobody after start")
            pid = os.fork()
            if pid == 0:
                os.setgid(54321)
                os.setuid(54321)
                try:
                    q = Peer(sockpath, hello=False)
                    q.send(HELLO, u32(VERSION), rid=0)
                    os._exit(0 if q.closed() else 1)
                except Exception:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            check(os.WEXITSTATUS(status) == 0, "a peer with another uid is refused")

        # numbers for the report
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 2:
            res, _ = login(p, "bob@example.org", "b0b pass 1", ip="192.0.2.77")
            n += 1
        rate = n / (time.monotonic() - t0)
        print("info logins/s through authd: %.1f" % rate)
        print("info authd RSS idle at start: %d KiB, after the test: %d KiB"
              % (idle_rss, rss_kb(authd.pid)))
        p.close()

        authd.send_signal(signal.SIGTERM)
        rc = authd.wait(timeout=10)
        check(rc == 0, "authd exits 0 on SIGTERM (rc %d)" % rc)

        if root:
            # the same as an ordinary user: no drop, and leak-checked
            nobody = pwd.getpwnam("nobody")
            run2 = os.path.join(tmp, "run2")
            os.mkdir(run2)
            os.chown(run2, nobody.pw_uid, nobody.pw_gid)
            conf2 = os.path.join(tmp, "facteur2.conf")
            with open(conf) as f, open(conf2, "w") as g:
                # without the DKIM keys: root's files
                g.write(f.read().split("[dkim]")[0].replace("/run\n",
                                                            "/run2\n"))

            def become_nobody():
                os.setgid(nobody.pw_gid)
                os.setgroups([])
                os.setuid(nobody.pw_uid)
            env["ASAN_OPTIONS"] = "detect_leaks=1"
            authd = subprocess.Popen([AUTHD, "-c", conf2, "-d"], env=env,
                                     stderr=open(errlog, "w"),
                                     preexec_fn=become_nobody)
            sock2 = os.path.join(run2, "authd.sock")
            deadline = time.monotonic() + 30
            while not os.path.exists(sock2) and authd.poll() is None and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            p = Peer(sock2)
            res, _ = login(p, "alice@example.org", "correct horse")
            check(res == OK, "started as an ordinary user: login works")
            g = Peer(sock2)
            g.send(RCPT, s("x") + b"junk")
            check(g.closed(), "started as an ordinary user: garbage closed")
            with open(errlog) as f:
                check("no privilege drop" in f.read(), "one warning about no drop")
            authd.send_signal(signal.SIGTERM)
            rc = authd.wait(timeout=10)
            check(rc == 0, "exits 0, no leak reported (rc %d)" % rc)
    finally:
        if authd is not None and authd.poll() is None:
            authd.kill()
            authd.wait()
        if failed and os.path.exists(errlog):
            with open(errlog) as f:
                sys.stdout.write("---- authd log (tail)\n" + "".join(f.readlines()[-30:]))
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
