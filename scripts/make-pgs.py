#!/usr/bin/env python3
"""Writes a small PGS (Blu-ray `.sup`) subtitle stream: the test media's bitmap track.

ffmpeg 5.1 has no PGS encoder, so the display sets are written here, segment by segment, as the
format is documented (the "Presentation Graphic Stream (SUP files) BluRay Subtitle Format" notes
of the ffmpeg/SubtitleEdit authors; ffmpeg's own `libavcodec/pgssubdec.c` reads the same):
every segment is `"PG"`, a 90 kHz PTS and DTS (4 bytes each), a type (PCS 0x16, WDS 0x17,
PDS 0x14, ODS 0x15, END 0x80) and a 2-byte size. A cue is one display set that shows an
object (PCS with one composition object, WDS, PDS with the palette, ODS with the run-length
coded picture, END) and one that clears it (PCS with no object, WDS, END).

Usage: make-pgs.py OUT.sup WIDTH HEIGHT CUE...   where CUE is
START,END,X,Y,W,H,COLOUR (seconds, pixels, COLOUR `red` or `green`).
"""
import struct
import sys

# Y, Cr, Cb of each colour (BT.709 limited range, as the decoder converts HD streams; close
# enough under BT.601 for a test that asks "mostly red").
COLOURS = {"red": (63, 240, 102), "green": (173, 42, 26)}


def segment(kind, pts, payload):
    ticks = round(pts * 90000) & 0xFFFFFFFF
    return b"PG" + struct.pack(">IIBH", ticks, 0, kind, len(payload)) + payload


def rle_box(w, h):
    """Every pixel palette entry 1: one `00 11LLLLLL LLLLLLLL 01` run per line (or the short
    form under 64), then the end-of-line code `00 00`."""
    line = b""
    if w < 64:
        line = bytes([0, 0x80 | w, 1])
    else:
        line = bytes([0, 0xC0 | (w >> 8), w & 0xFF, 1])
    return (line + b"\x00\x00") * h


def display_set(t, number, width, height, window, colour=None):
    x, y, w, h = window
    out = b""
    if colour is None:
        pcs = struct.pack(">HHBHBBBB", width, height, 0x10, number, 0x00, 0, 0, 0)
        out += segment(0x16, t, pcs)
        out += segment(0x17, t, struct.pack(">BBHHHH", 1, 0, x, y, w, h))
        return out + segment(0x80, t, b"")
    # Epoch start: the decoder forgets earlier objects and palettes.
    pcs = struct.pack(">HHBHBBBB", width, height, 0x10, number, 0x80, 0, 0, 1)
    pcs += struct.pack(">HBBHH", 0, 0, 0, x, y)
    out += segment(0x16, t, pcs)
    out += segment(0x17, t, struct.pack(">BBHHHH", 1, 0, x, y, w, h))
    y_, cr, cb = COLOURS[colour]
    # Entry 0 transparent, entry 1 the opaque colour.
    pds = struct.pack(">BB", 0, 0) + bytes([0, 16, 128, 128, 0]) + bytes([1, y_, cr, cb, 255])
    out += segment(0x14, t, pds)
    data = rle_box(w, h)
    length = len(data) + 4
    ods = struct.pack(">HBB", 0, 0, 0xC0) + length.to_bytes(3, "big") + struct.pack(">HH", w, h)
    out += segment(0x15, t, ods + data)
    return out + segment(0x80, t, b"")


def main():
    out, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # A clear at 0 first: the stream then starts at 0 like the video it is muxed with (ffmpeg
    # shifts each input to its own start).
    data = display_set(0.0, 0, width, height, (0, 0, width, height))
    number = 1
    for cue in sys.argv[4:]:
        start, end, x, y, w, h, colour = cue.split(",")
        start, end = float(start), float(end)
        window = (int(x), int(y), int(w), int(h))
        data += display_set(start, number, width, height, window, colour)
        data += display_set(end, number + 1, width, height, window)
        number += 2
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
