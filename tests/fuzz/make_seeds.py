#!/usr/bin/python3
"""Writes the small seed files the decoder fuzzer starts from (tests/fuzz/seeds):
JPEG grey / colour / progressive / restart markers, PNG grey / RGB /
RGBA / 16-bit / palette / interlaced / 1-bit. Run: /usr/bin/python3 tests/fuzz/make_seeds.py"""
import os
import struct
import zlib

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1)
rgb = rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)
grey = rng.integers(0, 256, (9, 13), dtype=np.uint8)


def put(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def enc(ext, img, params=()):
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


put("rgb.jpg", enc(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 80]))
put("grey.jpg", enc(".jpg", grey))
put("progressive.jpg", enc(".jpg", rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]))
put("restart.jpg", enc(".jpg", rgb, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1]))
put("rgb.png", enc(".png", rgb))
put("grey.png", enc(".png", grey))
put("rgba.png", enc(".png", np.dstack([rgb, rgb[:, :, :1]])))
put("rgb16.png", enc(".png", rgb.astype(np.uint16) * 257))
put("grey16.png", enc(".png", grey.astype(np.uint16) * 3))


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(width, height, bit_depth, colour_type, raw_rows, extra=b"", interlace=0):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw_rows)) + chunk(b"IEND", b""))


# Palette 4x2, 2-bit indices, with a tRNS entry.
rows = b"".join(b"\x00" + bytes([0b00011011]) for _ in range(2))
put("palette.png", png(4, 2, 2, 3, rows, chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]))
                        + chunk(b"tRNS", b"\x80")))
# 1-bit grey 8x2.
put("grey1.png", png(8, 2, 1, 0, b"\x00\xa5\x00\x5a"))
# Adam7-interlaced 8-bit grey 5x5 (the seven passes' sub-images, each row filter byte 0).
passes = [(1, 1), (1, 1), (2, 1), (1, 2), (3, 1), (2, 3), (5, 2)]  # (width, height) per pass
body = b"".join(b"".join(b"\x00" + bytes(range(w)) for _ in range(h)) for w, h in passes)
put("interlaced.png", png(5, 5, 8, 0, body, interlace=1))
print("wrote seeds to", OUT, sorted(os.listdir(OUT)))
