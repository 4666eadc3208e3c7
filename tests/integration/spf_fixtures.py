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
