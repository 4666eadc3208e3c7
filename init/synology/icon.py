#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""icon.py SIZE FILE - the package icon, drawn here (no image library): a
white envelope on a blue rounded square, as an 8-bit RGBA PNG of SIZE x
SIZE pixels.  Used by spk.sh for PACKAGE_ICON.PNG (64) and
PACKAGE_ICON_256.PNG (256)."""

import struct
import sys
import zlib

BLUE = (32, 96, 176, 255)
WHITE = (255, 255, 255, 255)
LINE = (32, 96, 176, 255)
CLEAR = (0, 0, 0, 0)


def pixel(x, y, n):
    r = n * 0.18                       # corner radius
    cx = min(max(x, r), n - 1 - r)
    cy = min(max(y, r), n - 1 - r)
    if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
        return CLEAR
    left, right = n * 0.18, n * 0.82   # the envelope
    top, bottom = n * 0.28, n * 0.72
    if not (left <= x <= right and top <= y <= bottom):
        return BLUE
    w = max(1.0, n / 40)               # the flap: two lines to the middle
    mid = (left + right) / 2
    flap = top + (abs(x - mid) / (mid - left)) * -(bottom - top) * 0.55 + \
        (bottom - top) * 0.55
    if abs(y - flap) <= w:
        return LINE
    return WHITE


def png(n):
    rows = b''.join(b'\0' + b''.join(bytes(pixel(x, y, n)) for x in range(n))
                    for y in range(n))

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n' +
            chunk(b'IHDR', struct.pack('>IIBBBBB', n, n, 8, 6, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b''))


if __name__ == '__main__':
    with open(sys.argv[2], 'wb') as f:
        f.write(png(int(sys.argv[1])))
