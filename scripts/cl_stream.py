"""cl_stream - read and write the cl stream (man/cl-stream.5) from Python.

Needs only NumPy (Debian's python3-numpy; run with /usr/bin/python3).

    from cl_stream import Reader, Writer, load_logits, TOKEN, VECTOR, SAMPLE

    r = Reader(sys.stdin.buffer)          # the header is read at once
    r.info                                # its JSON metadata: a dict
    for rec in r:                         # Record(kind, flags, seq, pos, token,
        ...                               #        logprob, data, aux)
    w = Writer(sys.stdout.buffer, {"kind": "tokens", "tokenizer": r.info["tokenizer"]})
    w.put(TOKEN, seq=0, pos=5, token=42, logprob=-0.3, flags=GENERATED | SAMPLE)

    meta, logits = load_logits("logits.cls")   # [{seq, pos, token, flags}], (n, width)

A VECTOR record's data is a float32 array of the stream's width (f16 and bf16
are converted); a TOKEN record's data is a list of (token, logprob)
alternatives.  Concatenated streams (`cat a b`) read as one, as long as their
headers agree.  The reader asks for exactly the bytes of one record at a time,
so it never waits for input a record does not need, and the writer flushes
every record by default: both are safe inside the generation loop.
"""
import collections
import json
import math
import struct

import numpy as np

TOKEN, VECTOR, SEQ_BEGIN, PROMPT_END, SEQ_END, END = 1, 2, 3, 4, 5, 6
SAMPLE, GENERATED, PROMPT = 1, 2, 4
MAGIC = b"\x89CLS\r\n\x1a\n"
VERSION = 1
_REC = struct.Struct("<HHIIifIII")  # kind flags seq pos token logprob n bytes aux
_ELEM = {"f32": 4, "f16": 2, "bf16": 2}

# aux: 0, except in tap streams (the layer) and attention streams
# (layer * 65536 + head); see cl-stream(5).
Record = collections.namedtuple("Record", "kind flags seq pos token logprob data aux", defaults=(0,))


class StreamError(Exception):
    """Malformed or mismatched input; the message names the fault."""


def _to_f32(raw, dtype):
    """Vector bytes of `dtype` -> float32 array."""
    if dtype == "f32":
        return np.frombuffer(raw, "<f4").copy()
    if dtype == "f16":
        return np.frombuffer(raw, "<f2").astype(np.float32)
    # bf16 is the high half of a float32.
    return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)


def _from_f32(x, dtype):
    """Float array -> bytes of `dtype` (bf16 rounds to nearest even, as torch)."""
    x = np.asarray(x, np.float32)
    if dtype == "f32":
        return x.astype("<f4").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    u = x.view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    r = np.where(np.isnan(x), (u >> 16) | 0x40, r)  # NaN stays a (quiet) NaN
    return r.astype("<u2").tobytes()


class Reader:
    """Records of a cl stream from a binary file object (read() returns bytes)."""

    def __init__(self, f, name="stdin"):
        self.f, self.name, self.info, self.nrec = f, name, None, 0
        first = self._read(1, "empty input, expected a cl stream")
        self.info = self._header(first)

    def _read(self, n, short=None, eof_ok=False):
        """n bytes; None at a clean end where eof_ok; else StreamError."""
        buf = b""
        while len(buf) < n:
            b = self.f.read(n - len(buf))
            if not b:
                if eof_ok and not buf:
                    return None
                raise StreamError("%s: %s" % (self.name, short or "truncated record after %d records" % self.nrec))
            buf += b
        return buf

    def _header(self, first):
        h = first + self._read(15, "truncated stream header")
        if h[:8] != MAGIC:
            raise StreamError("%s: not a cl stream (bad magic bytes)" % self.name)
        version, jlen = struct.unpack_from("<II", h, 8)
        if version != VERSION:
            raise StreamError("%s: stream version %d, but this reads version %d" % (self.name, version, VERSION))
        try:
            info = json.loads(self._read(jlen, "truncated stream header"))
        except ValueError:
            info = None
        if not isinstance(info, dict) or info.get("kind") not in ("tokens", "vectors"):
            raise StreamError("%s: stream header: not a JSON object of kind tokens or vectors" % self.name)
        info.setdefault("dtype", "f32")
        info.setdefault("tokenizer", "")
        if info["kind"] == "vectors" and (info["dtype"] not in _ELEM or not isinstance(info.get("width"), int)):
            raise StreamError("%s: stream header: bad width or dtype" % self.name)
        old = self.info
        if old is not None:  # a concatenated stream must describe the same data
            same = all(info.get(k) == old.get(k) for k in ("kind", "width", "dtype"))
            if not same or (info["tokenizer"] and old["tokenizer"] and info["tokenizer"] != old["tokenizer"]):
                raise StreamError("%s: concatenated stream does not match the first header" % self.name)
        return info

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            first = self._read(1, eof_ok=True)
            if first is None:
                raise StopIteration
            if first == MAGIC[:1]:
                self._header(first)
                continue
            h = first + self._read(_REC.size - 1)
            kind, flags, seq, pos, token, lp, n, nbytes, aux = _REC.unpack(h)
            data = self._read(nbytes) if nbytes else None
            self.nrec += 1
            if kind == VECTOR:
                if self.info["kind"] != "vectors" or n != self.info["width"] or \
                        nbytes != n * _ELEM[self.info["dtype"]]:
                    raise StreamError("%s: record %d: bad vector" % (self.name, self.nrec - 1))
                data = _to_f32(data, self.info["dtype"])
            elif kind == TOKEN:
                if nbytes != 8 * n:
                    raise StreamError("%s: record %d: bad alternatives" % (self.name, self.nrec - 1))
                data = [struct.unpack_from("<if", data, 8 * i) for i in range(n)]
            elif kind > END:
                continue  # a kind from a later version: skipped by its length
            return Record(kind, flags, seq, pos, token, lp, data, aux)


class Writer:
    """A cl stream to a binary file object; the header goes out at once.
    info: the JSON metadata ("kind" required; "width" for vectors)."""

    def __init__(self, f, info, flush=True):
        self.f, self.flush = f, flush
        self.info = dict({"what": info.get("kind"), "vocab_size": 0, "tokenizer": "", "bos": -1,
                          "eos": -1, "producer": "cl_stream.py", "model": ""}, **info)
        if self.info["kind"] == "vectors":
            self.info.setdefault("dtype", "f32")
        j = json.dumps(self.info, separators=(",", ":")).encode()
        pad = (16 + len(j) + 7) // 8 * 8 - 16
        self._out(MAGIC + struct.pack("<II", VERSION, pad) + j + b" " * (pad - len(j)))

    def _out(self, b):
        self.f.write(b)
        if self.flush:
            self.f.flush()

    def put(self, kind, seq=0, pos=0, token=-1, flags=0, logprob=math.nan, data=None, aux=0):
        """data: a vector (VECTOR) or a list of (token, logprob) (TOKEN)."""
        if kind == VECTOR:
            n = self.info["width"]
            if len(data) != n:
                raise ValueError("vector of %d elements in a stream of width %d" % (len(data), n))
            payload = _from_f32(data, self.info["dtype"])
        else:
            n = len(data or ())
            payload = b"".join(struct.pack("<if", t, l) for t, l in data or ())
        self._out(_REC.pack(kind, flags, seq, pos, token, logprob, n, len(payload), aux) + payload)


def load_logits(path):
    """All VECTOR records of a file (or "-" for stdin) ->
    ([{"seq", "pos", "token", "flags"}, ...], float32 array (records, width))."""
    import sys
    f = sys.stdin.buffer if path == "-" else open(path, "rb")
    with f:
        r = Reader(f, path)
        meta, rows = [], []
        for rec in r:
            if rec.kind == VECTOR:
                meta.append({"seq": rec.seq, "pos": rec.pos, "token": rec.token, "flags": rec.flags})
                rows.append(rec.data)
        width = r.info.get("width", 0)
    return meta, np.stack(rows) if rows else np.zeros((0, width), np.float32)
