# SPDX-License-Identifier: ISC
"""spf_fixtures.py - feed SPF checks to $FACTEUR_BIN/../test/spf_zone (the
evaluator of lib/spf.c answering from a zone table through lib/dns's
backend hook, see tests/unit/spf_zone.c for its input format).

A zone is {name: [record, ...]} where a record is 'TIMEOUT' or a one-item
dict {type: value} as in the RFC 7208 test suite's YAML: TXT/SPF a string
or a list of strings (joined), MX [pref, host], A/AAAA/PTR/CNAME a string.
"""
import os
import subprocess
import tempfile

SRC = os.environ.get('FACTEUR_SRC') or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get('FACTEUR_BIN') or os.path.join(SRC, 'build-san', 'bin')
TOOL = os.path.join(os.path.dirname(BIN), 'test', 'spf_zone')


def hx(s):
    if isinstance(s, str):
        s = s.encode('utf-8')
    return s.hex() if s else '-'


def txt_bytes(v):
    if isinstance(v, (list, tuple)):
        return b''.join(x.encode('utf-8') if isinstance(x, str) else x
                        for x in v)
    return v.encode('utf-8') if isinstance(v, str) else bytes(v)


def zone_lines(zone):
    """The Z lines of one zone."""
    out = []
    for name, recs in zone.items():
        for r in recs or []:
            if r == 'TIMEOUT':
                out.append(f'Z {hx(name)} TIMEOUT -')
                continue
            (k, v), = r.items()
            if k in ('TXT', 'SPF'):
                out.append(f'Z {hx(name)} {k} {hx(txt_bytes(v))}')
            elif k == 'MX':
                out.append(f'Z {hx(name)} MX {int(v[0])} {hx(str(v[1]))}')
            elif k in ('A', 'AAAA', 'PTR', 'CNAME'):
                out.append(f'Z {hx(name)} {k} {hx(str(v))}')
    return out


def run(sections, verbose=False):
    """sections: [(zone, [(test_id, ip, helo, mailfrom), ...]), ...].
    Returns {test_id: (result, explanation or None)} and the trace text."""
    lines = []
    for i, (zone, tests) in enumerate(sections):
        lines.append(f'S {i}')
        lines.extend(zone_lines(zone))
        for tid, ip, helo, mailfrom in tests:
            lines.append(f'T {tid} {hx(str(ip))} {hx(str(helo))} '
                         f'{hx(str(mailfrom))}')
    with tempfile.NamedTemporaryFile('w', suffix='.spfz') as f:
        f.write('\n'.join(lines) + '\n')
        f.flush()
        cmd = [TOOL] + (['-v'] if verbose else []) + [f.name]
        r = subprocess.run(cmd, capture_output=True, timeout=600)
    res = {}
    for line in r.stdout.decode().splitlines():
        parts = line.split(' ')
        if len(parts) == 3:
            expl = None if parts[2] == '-' else bytes.fromhex(parts[2]).decode(
                'utf-8', 'replace')
            res[parts[0]] = (parts[1], expl)
    if r.returncode != 0:
        res['__rc__'] = (str(r.returncode), r.stderr.decode()[-2000:])
    return res, r.stderr.decode('utf-8', 'replace')


class ZoneServer:
    """A UDP DNS server on 127.0.0.1 answering from a zone in the same
    format (dnspython builds the messages): CNAMEs followed into the
    answer, NXDOMAIN for names not in the zone and NOERROR/no data for
    types a name lacks (both with an SOA, minimum 60 s), no answer at all
    for TIMEOUT (as spf_zone: before any record of the type asked), TXT
    answered by SPF records when a name has no TXT.  set_zone() swaps the
    zone; servfail names (a set) answer SERVFAIL."""

    def __init__(self, zone=None):
        import socket
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.servfail = set()
        self.queries = 0
        self.set_zone(zone or {})
        threading.Thread(target=self._serve, daemon=True).start()

    def set_zone(self, zone):
        z = {}
        for name, recs in zone.items():
            z[name.lower().rstrip('.')] = [
                r if r == 'TIMEOUT' else next(iter(r.items()))
                for r in recs or []]
        self.zone = z

    def _rdata(self, t, v):
        import dns.rdata
        import dns.rdataclass
        import dns.rdatatype
        from dns.rdtypes.ANY.TXT import TXT
        if t in ('TXT', 'SPF'):
            b = txt_bytes(v)
            chunks = [b[i:i + 255] for i in range(0, len(b), 255)] or [b'']
            return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
        if t == 'MX':
            text = f'{int(v[0])} {str(v[1]).rstrip(".") or ""}.'
        elif t in ('PTR', 'CNAME'):
            text = str(v).rstrip('.') + '.'
        else:
            text = str(v)
        return dns.rdata.from_text(dns.rdataclass.IN, getattr(
            dns.rdatatype, t), text)

    def _answer(self, wire):
        import dns.flags
        import dns.message
        import dns.name
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset
        q = dns.message.from_wire(wire)
        resp = dns.message.make_response(q)
        resp.flags |= dns.flags.AA | dns.flags.RA
        qn = q.question[0].name
        qtype = dns.rdatatype.to_text(q.question[0].rdtype)
        name = qn.to_text(omit_final_dot=True).lower()
        owner = qn
        if name in self.servfail:
            resp.set_rcode(dns.rcode.SERVFAIL)
            return resp.to_wire()
        for _ in range(8):
            recs = self.zone.get(name)
            cn = [v for r in recs or [] if r != 'TIMEOUT'
                  for t, v in [r] if t == 'CNAME']
            if not cn or qtype == 'CNAME':
                break
            target = dns.name.from_text(cn[0].rstrip('.') + '.')
            resp.answer.append(dns.rrset.from_rdata(
                owner, 300, self._rdata('CNAME', cn[0])))
            owner, name = target, cn[0].lower().rstrip('.')
        recs = self.zone.get(name)
        soa = dns.rrset.from_text(
            'example.', 60, 'IN', 'SOA', 'ns.example. hostmaster.example. '
            '1 3600 600 86400 60')
        if recs is None:
            resp.set_rcode(dns.rcode.NXDOMAIN)
            resp.authority.append(soa)
            return resp.to_wire()
        want = qtype
        if qtype == 'TXT' and not any(r != 'TIMEOUT' and r[0] == 'TXT'
                                      for r in recs):
            want = 'SPF'
        rds = []
        for r in recs:
            if r == 'TIMEOUT':
                if not rds:
                    return None
                break
            t, v = r
            if t == want and v != 'NONE':
                try:
                    rds.append(self._rdata('TXT' if t == 'SPF' else t, v))
                except Exception:  # pylint: disable=broad-except
                    pass
        if rds:
            rs = dns.rrset.RRset(owner, dns.rdataclass.IN,
                                 dns.rdatatype.from_text(qtype))
            for rd in rds:
                rs.add(rd, 300)
            resp.answer.append(rs)
        else:
            resp.authority.append(soa)
        return resp.to_wire()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            self.queries += 1
            try:
                out = self._answer(data)
            except Exception:  # pylint: disable=broad-except
                out = None
            if out is not None:
                self.sock.sendto(out, peer)

    def close(self):
        self.sock.close()
