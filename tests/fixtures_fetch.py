"""Fixtures for tests/test_fetch.py: a tiny FiveK server on 127.0.0.1 and the files it serves.

Everything here is made from known images with independent code (a TIFF/DNG writer, published
colour matrices), so csrnet_lite.tools.develop and csrnet_lite.tools.fetch can be checked against the images they
should give back.
"""
from __future__ import annotations

import io
import re
import socket
import struct
import threading
import urllib.parse
import zlib
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

# --- known images ---------------------------------------------------------------------------------


def smooth_image(h: int, w: int, phase: float = 0.0) -> np.ndarray:
    """A smooth, colourful sRGB-encoded float64 image (h, w, 3) in about [0.08, 0.92]."""
    y, x = np.mgrid[0:h, 0:w] + 0.5
    y, x = y / h, x / w
    r = 0.5 + 0.38 * np.sin(2 * np.pi * (0.8 * x + 0.3 * y + phase))
    g = 0.5 + 0.3 * np.cos(2 * np.pi * (0.6 * y - 0.2 * x + phase))
    b = 0.25 + 0.6 * x * y + 0.05 * np.sin(6 * x + phase)
    return np.stack([r, g, b], axis=-1)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB decoding (IEC 61966-2-1), written independently of csrnet_lite.tools.develop."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images with values in [0, 1]."""
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


# --- TIFF / DNG writer ---------------------------------------------------------------------------

_CODES = {1: "B", 3: "H", 4: "I", 5: "I", 10: "i"}  # struct code per TIFF type (rationals: 2 each)


def _pack(order: str, typ: int, values) -> tuple[int, bytes]:
    """(count, bytes) of a TIFF field."""
    if typ == 2:
        data = values.encode() + b"\0"
        return len(data), data
    if typ == 7:
        return len(values), bytes(values)
    if typ in (5, 10):
        flat = []
        for v in values:
            f = Fraction(v).limit_denominator(1 << 20)
            flat += [f.numerator, f.denominator]
        return len(values), struct.pack(order + _CODES[typ] * len(flat), *flat)
    return len(values), struct.pack(order + _CODES[typ] * len(values), *values)


def write_tiff(tags: dict[int, tuple[int, object]], strips: list[bytes], order: str = "<") -> bytes:
    """A one-directory TIFF: `tags` {tag: (type, values)} plus the strips (offsets/counts added)."""
    tags = dict(tags)
    tags[273] = (4, [0] * len(strips))
    tags[279] = (4, [len(s) for s in strips])
    fields = {tag: _pack(order, *tags[tag]) for tag in sorted(tags)}
    ifd_end = 8 + 2 + 12 * len(fields) + 4
    extra_size = sum(len(d) + len(d) % 2 for _, d in fields.values() if len(d) > 4)
    at = ifd_end + extra_size  # strips follow the out-of-line values
    offsets = []
    for s in strips:
        offsets.append(at)
        at += len(s)
    fields[273] = _pack(order, 4, offsets)
    entries, extra = b"", b""
    for tag, (count, data) in fields.items():
        typ = tags[tag][0]
        if len(data) <= 4:
            entries += struct.pack(order + "HHI", tag, typ, count) + data.ljust(4, b"\0")
        else:
            entries += struct.pack(order + "HHII", tag, typ, count, ifd_end + len(extra))
            extra += data + b"\0" * (len(data) % 2)
    head = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    return head + struct.pack(order + "H", len(fields)) + entries + b"\0\0\0\0" + extra + b"".join(strips)


# Linear sRGB (D65) -> XYZ, as published (Lindbloom; IEC 61966-2-1).
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
# Bradford D65 -> D50 and XYZ (D50) -> ProPhoto RGB, as published (Lindbloom).
BRADFORD_D65_TO_D50 = np.array([[1.0478112, 0.0228866, -0.0501270],
                                [0.0295424, 0.9904844, -0.0170491],
                                [-0.0092345, 0.0150436, 0.7521316]])
XYZ_TO_PROPHOTO = np.array([[1.3459433, -0.2556075, -0.0511118],
                            [-0.5445989, 1.5081673, 0.0205351],
                            [0.0000000, 0.0000000, 1.2118128]])
ICC_GAMMA = 461 / 256  # gamma 1.8 as an ICC 'curv' stores it (u8Fixed8), as in Adobe's ProPhoto profile


def dng_bytes(srgb_crop: np.ndarray, margin: tuple[int, int] = (6, 4), active: tuple[int, int] = (2, 4),
              camera=(0.5, 1.0, 0.7), light=(1.15, 1.0, 0.8), baseline_exposure: float = 0.5,
              orientation: int = 1, full_image: np.ndarray | None = None) -> bytes:
    """A 16-bit RGGB DNG whose default crop develops back to `srgb_crop` (sRGB, (h, w, 3)).

    The sensor is the crop plus `margin` (rows, cols) on each side plus an ActiveArea border `active`;
    `full_image` (the sensor-sized sRGB image, crop in its middle) fills the margins. The camera sees
    linear sRGB through per-channel gains `camera` (so ColorMatrix1, for D65, is diag(camera) @
    XYZ->linear sRGB), under a light tinted `light` (so AsShotNeutral = camera * light: only the
    as-shot white balance gives the image back), stored 2**-baseline_exposure darker.
    """
    h, w, _ = srgb_crop.shape
    mh, mw = margin
    sensor = full_image if full_image is not None else np.pad(srgb_crop, ((mh, mh), (mw, mw), (0, 0)), "edge")
    assert sensor.shape[:2] == (h + 2 * mh, w + 2 * mw)
    neutral = np.array(camera) * np.array(light)
    scene = srgb_to_linear(sensor) * neutral * 2.0 ** -baseline_exposure  # what the camera records
    cfa = np.empty(sensor.shape[:2])
    cfa[0::2, 0::2] = scene[0::2, 0::2, 0]  # R G
    cfa[0::2, 1::2] = scene[0::2, 1::2, 1]  # G B
    cfa[1::2, 0::2] = scene[1::2, 0::2, 1]
    cfa[1::2, 1::2] = scene[1::2, 1::2, 2]
    black, white = 512, 16383
    top, left = active
    mosaic = np.full((sensor.shape[0] + top, sensor.shape[1] + left), 77, dtype=np.uint16)  # masked border
    mosaic[top:, left:] = np.round(black + cfa * (white - black))
    rows, cols = mosaic.shape
    color_matrix = np.diag(camera) @ np.linalg.inv(SRGB_TO_XYZ)  # XYZ -> camera, under D65
    tags = {
        254: (4, [0]), 256: (4, [cols]), 257: (4, [rows]), 258: (3, [16]), 259: (3, [1]),
        262: (3, [32803]), 271: (2, "Fixture"), 272: (2, "Mosaic"), 274: (3, [orientation]),
        277: (3, [1]), 278: (4, [rows]), 284: (3, [1]),
        33421: (3, [2, 2]), 33422: (1, [0, 1, 1, 2]),  # CFA repeat 2x2, RGGB
        50706: (1, [1, 4, 0, 0]), 50708: (2, "Fixture Mosaic"),  # DNGVersion, UniqueCameraModel
        50714: (4, [black]), 50717: (4, [white]),  # BlackLevel, WhiteLevel
        50719: (4, [mw, mh]), 50720: (4, [w, h]),  # DefaultCropOrigin, DefaultCropSize (x, y)
        50721: (10, list(color_matrix.ravel())), 50778: (3, [21]),  # ColorMatrix1 for D65
        50728: (5, list(neutral)), 50730: (10, [baseline_exposure]),  # AsShotNeutral, BaselineExposure
        50829: (4, [top, left, rows, cols]),  # ActiveArea
    }
    return write_tiff(tags, [mosaic.astype("<u2").tobytes()])


def srgb_to_prophoto(srgb: np.ndarray, toe: bool) -> np.ndarray:
    """sRGB-encoded float -> ProPhoto RGB encoded float, with the published matrices: the ROMM
    transfer (gamma 1.8, linear toe) when `toe`, else the pure ICC gamma 461/256."""
    linear = srgb_to_linear(srgb) @ (XYZ_TO_PROPHOTO @ BRADFORD_D65_TO_D50 @ SRGB_TO_XYZ).T
    linear = np.clip(linear, 0, 1)
    if toe:
        return np.where(linear < 1 / 512, 16 * linear, linear ** (1 / 1.8))
    return linear ** (1 / ICC_GAMMA)


def prophoto_icc() -> bytes:
    """A minimal ICC v2 matrix/TRC profile: ProPhoto colorants (D50) and a gamma 461/256 curve."""
    colorants = np.linalg.inv(XYZ_TO_PROPHOTO)  # columns: XYZ of R, G, B
    tags = [(sig, b"XYZ \0\0\0\0" + struct.pack(">3i", *np.round(colorants[:, i] * 65536).astype(int)))
            for i, sig in enumerate((b"rXYZ", b"gXYZ", b"bXYZ"))]
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 461) + b"\0\0"
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"none", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header = (header + b"\0" * 12 + b"acsp").ljust(128, b"\0")
    return header + struct.pack(">I", len(tags)) + table + body


def expert_tiff_bytes(srgb: np.ndarray, *, icc: bool = True, order: str = "<", compression: str = "none",
                      rows_per_strip: int = 16, orientation: int = 1) -> tuple[bytes, np.ndarray]:
    """(a 16-bit ProPhoto RGB TIFF of the sRGB image, its uint16 (h, w, 3) samples).

    compression: 'none', 'deflate' (with the horizontal predictor) or 'lzw' (Pillow/libtiff's coder).
    """
    h, w, _ = srgb.shape
    a = np.round(srgb_to_prophoto(srgb, toe=not icc) * 65535).astype(np.uint16)
    tags = {256: (4, [w]), 257: (4, [h]), 258: (3, [16, 16, 16]), 262: (3, [2]), 277: (3, [3]),
            278: (4, [rows_per_strip]), 284: (3, [1]), 274: (3, [orientation])}
    if icc:
        tags[34675] = (7, prophoto_icc())
    rows = [a[i:i + rows_per_strip] for i in range(0, h, rows_per_strip)]
    if compression == "none":
        tags[259] = (3, [1])
        strips = [r.astype(order + "u2").tobytes() for r in rows]
    elif compression == "deflate":
        tags[259], tags[317] = (3, [8]), (3, [2])  # Adobe deflate, horizontal differencing
        diff = [np.diff(r.astype(np.int64), axis=1, prepend=0).astype(np.uint16) for r in rows]  # wraps
        strips = [zlib.compress(d.astype(order + "u2").tobytes()) for d in diff]
    elif compression == "lzw":
        assert order == "<"
        tags[259] = (3, [5])
        buffer = io.BytesIO()
        Image.frombytes("I;16", (3 * w, h), a.astype("<u2").tobytes()).save(
            buffer, format="TIFF", compression="tiff_lzw", tiffinfo={278: rows_per_strip})
        with Image.open(buffer) as im:
            offsets, counts = im.tag_v2[273], im.tag_v2[279]
            tags[278] = (4, [im.tag_v2.get(278, h)])
        data = buffer.getvalue()
        strips = [data[o:o + c] for o, c in zip(offsets, counts)]
    else:
        raise ValueError(compression)
    return write_tiff(tags, strips, order), a


# --- the server ----------------------------------------------------------------------------------


class FiveKServer:
    """An HTTP server on 127.0.0.1 (free port) serving `files` {url path: bytes}, with Range support.

    drop_after {path: n}: the next GET of path sends the full headers but only n bytes, then closes.
    serve_once {path: bytes}: the next GET of path serves these bytes instead (e.g. a damaged file).
    requests: (path, Range header or None, status) of every request, in order.
    Use as a context manager; it stops on exit.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.drop_after: dict[str, int] = {}
        self.serve_once: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None, int]] = []
        self.lock = threading.Lock()
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                fixture.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # dropped connections are on purpose
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "FiveKServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def count(self, suffix: str = "") -> int:
        """How many requests ended with `suffix` (all requests by default)."""
        return sum(path.endswith(suffix) for path, _, _ in self.requests)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path, ask = urllib.parse.unquote(h.path), h.headers.get("Range")
        with self.lock:
            body = self.serve_once.pop(path, None) or self.files.get(path)
            drop = self.drop_after.pop(path, None)
        if body is None:
            self._log(path, ask, 404)
            h.send_error(404)
            return
        start, status = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", ask or "")
        if m:
            start = int(m.group(1))
            if start >= len(body):
                self._log(path, ask, 416)
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(body)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            status = 206
        self._log(path, ask, status)
        h.send_response(status)
        h.send_header("Content-Length", str(len(body) - start))
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        if drop is None:
            h.wfile.write(body[start:])
            return
        h.wfile.write(body[start:start + drop])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)  # the client sees the connection end mid-file

    def _log(self, path: str, ask: str | None, status: int) -> None:
        with self.lock:
            self.requests.append((path, ask, status))


def closed_port_url() -> str:
    """http://127.0.0.1:PORT/ where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
