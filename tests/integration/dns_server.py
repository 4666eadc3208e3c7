# SPDX-License-Identifier: ISC
"""dns_server - a small authoritative-and-recursive-looking DNS server for
integration tests (dnspython, Debian python3-dnspython), on loopback UDP
and TCP, serving records from a Python table.

    dns = DNSServer(port)                # binds 127.0.0.1:port, UDP and TCP
    dns.add('example.com', 'TXT', 'v=spf1 ip4:127.0.0.1 -all')
    dns.add('example.com', 'A', '127.0.0.1')
    dns.add('mx.example.com', 'MX', '10 mail.example.com')
    dns.servfail.add('broken.example')   # SERVFAIL for it and names under it
    dns.drop.add('slow.example')         # never answers them (a timeout)
    dns.delay['late.example'] = 1.0      # answers them after a second
    dns.start()                          # serves from two daemon threads
    ... facteur with [dns] resolver = 127.0.0.1:port ...
    dns.queries                          # list of (name, type) asked
    dns.stop()

Names are compared without case and without the final dot.  A name with
records of other types gets NOERROR with no answer (NODATA), an unknown
name NXDOMAIN; both carry an SOA in the authority section (TTL 60) so that
negative answers can be cached.  Answers have the AA and RA bits, TTL
300 unless add() says otherwise.  TXT values longer than 255 bytes are
split into several strings, as a zone file would.
"""

import socket
import socketserver
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _norm(name):
    return name.lower().rstrip('.')


class DNSServer:
    def __init__(self, port, host='127.0.0.1'):
        self.host = host
        self.port = port
        self.records = {}          # name -> list of (type, text, ttl)
        self.servfail = set()
        self.drop = set()
        self.delay = {}            # name -> seconds before the answer
        self.queries = []
        self.lock = threading.Lock()
        self._servers = []

    # -- the zone table -----------------------------------------------

    def add(self, name, rtype, value, ttl=300):
        """One record; value in zone-file text form, except TXT, which is
        the whole unquoted value (split into strings here)."""
        with self.lock:
            self.records.setdefault(_norm(name), []).append(
                (rtype.upper(), value, ttl))

    def remove(self, name, rtype=None):
        with self.lock:
            n = _norm(name)
            if rtype is None:
                self.records.pop(n, None)
            elif n in self.records:
                self.records[n] = [r for r in self.records[n]
                                   if r[0] != rtype.upper()]

    def set_txt(self, name, value, ttl=300):
        self.remove(name, 'TXT')
        if value is not None:
            self.add(name, 'TXT', value, ttl)

    # -- answering ----------------------------------------------------

    @staticmethod
    def _under(name, names):
        return any(name == n or name.endswith('.' + n) for n in names)

    @staticmethod
    def _rdata(rtype, value):
        if rtype == 'TXT':
            raw = value.encode() if isinstance(value, str) else value
            parts = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b'']
            text = ' '.join('"' + p.decode('latin-1').replace('\\', '\\\\')
                            .replace('"', '\\"') + '"' for p in parts)
            return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT,
                                       text)
        return dns.rdata.from_text(dns.rdataclass.IN,
                                   dns.rdatatype.from_text(rtype), value)

    def answer(self, wire):
        """The response to a query in wire form, or None (drop it)."""
        try:
            q = dns.message.from_wire(wire)
        except Exception:  # pylint: disable=broad-except
            return None
        if not q.question:
            return None
        question = q.question[0]
        qname = _norm(question.name.to_text())
        qtype = dns.rdatatype.to_text(question.rdtype)
        with self.lock:
            self.queries.append((qname, qtype))
            if self._under(qname, self.drop):
                return None
            wait = max([t for n, t in self.delay.items()
                        if self._under(qname, {n})] or [0])
            servfail = self._under(qname, self.servfail)
            recs = list(self.records.get(qname, []))
            exists = qname in self.records or any(
                n.endswith('.' + qname) for n in self.records)
        if wait:
            time.sleep(wait)
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA | dns.flags.RA
        if servfail:
            r.set_rcode(dns.rcode.SERVFAIL)
            return r.to_wire()
        matching = [x for x in recs if x[0] == qtype]
        cname = [x for x in recs if x[0] == 'CNAME']
        if not matching and cname and qtype != 'CNAME':
            matching = cname
        if matching:
            by_type = {}
            for t, v, ttl in matching:
                by_type.setdefault(t, []).append((v, ttl))
            for t, vals in by_type.items():
                rrs = dns.rrset.RRset(question.name, dns.rdataclass.IN,
                                      dns.rdatatype.from_text(t))
                for v, ttl in vals:
                    rrs.add(self._rdata(t, v), ttl)
                r.answer.append(rrs)
        else:
            if not exists:
                r.set_rcode(dns.rcode.NXDOMAIN)
            soa = dns.rrset.from_text(
                'test.', 60, 'IN', 'SOA',
                'ns.test. hostmaster.test. 1 3600 600 86400 60')
            r.authority.append(soa)
        return r.to_wire(max_size=65535)

    # -- the sockets --------------------------------------------------

    def start(self):
        srv = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                out = srv.answer(data)
                if out is None:
                    return
                q = dns.message.from_wire(data)
                limit = max(512, q.payload) if q.edns >= 0 else 512
                if len(out) > limit:   # truncated: the client asks over TCP
                    r = dns.message.make_response(q)
                    r.flags |= dns.flags.TC
                    out = r.to_wire()
                sock.sendto(out, self.client_address)

        class TCPHandler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(10)
                try:
                    while True:
                        head = self._read(2)
                        if head is None:
                            return
                        n = int.from_bytes(head, 'big')
                        data = self._read(n)
                        if data is None:
                            return
                        out = srv.answer(data)
                        if out is None:
                            continue
                        self.request.sendall(len(out).to_bytes(2, 'big') + out)
                except OSError:
                    return

            def _read(self, n):
                buf = b''
                while len(buf) < n:
                    chunk = self.request.recv(n - len(buf))
                    if not chunk:
                        return None
                    buf += chunk
                return buf

        family = socket.AF_INET6 if ':' in self.host else socket.AF_INET

        class UDP(socketserver.ThreadingUDPServer):
            allow_reuse_address = True
            daemon_threads = True
            address_family = family

        class TCP(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            address_family = family

        self._servers = [UDP((self.host, self.port), UDPHandler),
                         TCP((self.host, self.port), TCPHandler)]
        for s in self._servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        return self

    def stop(self):
        for s in self._servers:
            s.shutdown()
            s.server_close()
        self._servers = []


def free_udp_tcp_port():
    """A loopback port free for both UDP and TCP, reserved for this
    process (facteur_test.free_port())."""
    import facteur_test  # pylint: disable=import-outside-toplevel
    return facteur_test.free_port(udp=True)


if __name__ == '__main__':
    import sys
    import time
    d = DNSServer(int(sys.argv[1]) if len(sys.argv) > 1 else 5353)
    d.add('example.com', 'TXT', 'v=spf1 ip4:127.0.0.1 -all')
    d.add('example.com', 'A', '127.0.0.1')
    d.servfail.add('broken.example')
    d.drop.add('slow.example')
    d.start()
    print(f'serving on 127.0.0.1:{d.port}', flush=True)
    while True:
        time.sleep(3600)


def resolv_conf_servers(path='/etc/resolv.conf'):
    """The nameserver addresses path names (glibc's default: 127.0.0.1)."""
    ns = []
    try:
        with open(path, encoding='ascii', errors='replace') as f:
            for line in f:
                w = line.split()
                if len(w) >= 2 and w[0] == 'nameserver':
                    ns.append(w[1].split('%')[0])
    except OSError:
        pass
    return ns[:3] or ['127.0.0.1']


def serve_as_system_resolver(txt):
    """For a program that only asks the system resolver (opendkim-testmsg):
    to be called in a new network namespace (unshare -n).  Brings up the
    loopback interface, puts the addresses /etc/resolv.conf names on it and
    starts a DNSServer on port 53 of each, serving txt {name: value}.  No
    mount namespace, so it also works in a chroot (where / is no mount
    point for unshare -m to make private).  Returns the servers (stop())."""
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    servers = []
    for ip in resolv_conf_servers():
        v6 = ':' in ip
        if ip not in ('127.0.0.1', '::1'):
            subprocess.run(['ip'] + (['-6'] if v6 else []) + [
                'addr', 'add', ip + ('/128' if v6 else '/32'), 'dev', 'lo'],
                check=True, capture_output=True)
        srv = DNSServer(53, host=ip)
        for name, value in txt.items():
            srv.add(name, 'TXT', value)
        servers.append(srv.start())
    return servers
