#!/usr/bin/env python3
"""gguf-damage.py - damaged and hostile copies of a GGUF file, for tests.

    gguf-damage.py GOOD.gguf OUTDIR     writes OUTDIR/*.gguf and prints one
                                        line per file: path, a tab, and a
                                        regular expression the one-line error
                                        must match
    gguf-damage.py --arch NAME GOOD.gguf OUT.gguf
                                        the same file with general.architecture
                                        NAME (of the same length as the old)

The cases are the published faults of GGUF readers (2024: unchecked string
lengths, array counts and tensor-info sizes) and the plain ones (truncation,
bad magic, versions, types, offsets, overlaps).  The file is parsed here, so
each case damages exactly one field.
"""
import os
import struct
import sys

FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def parse(b):
    """Offsets of the fields: kvs [(key_at, type_at, value_at, key, type)],
    tensors [(name_at, ndim_at, type_at, offset_at)], end of the infos."""
    o = 24
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)

    def string(o):
        n, = struct.unpack_from("<Q", b, o)
        return b[o + 8:o + 8 + n], o + 8 + n

    def value(t, o):
        if t == 8:
            return string(o)[1]
        if t == 9:
            at, n = struct.unpack_from("<IQ", b, o)
            o += 12
            for _ in range(n):
                o = value(at, o)
            return o
        return o + FIXED[t]

    kvs = []
    for _ in range(n_kv):
        key_at = o
        key, o = string(o)
        t, = struct.unpack_from("<I", b, o)
        kvs.append((key_at, o, o + 4, key.decode(), t))
        o = value(t, o + 4)
    tensors = []
    for _ in range(n_t):
        name_at = o
        _, o = string(o)
        nd, = struct.unpack_from("<I", b, o)
        ndim_at = o
        o += 4 + 8 * nd
        tensors.append((name_at, ndim_at, o, o + 4))
        o += 12
    return kvs, tensors, o


def main():
    args = sys.argv[1:]
    good = open(args[-2], "rb").read()
    kvs, tensors, infos_end = parse(good)
    kv = {k[3]: k for k in kvs}
    if args[0] == "--arch":
        name = args[1].encode()
        at = kv["general.architecture"][2]
        n, = struct.unpack_from("<Q", good, at)
        if n != len(name):
            sys.exit("gguf-damage.py: --arch wants a name of %d bytes" % n)
        b = bytearray(good)
        b[at + 8:at + 8 + n] = name
        open(args[-1], "wb").write(b)
        return
    out = args[-1]
    os.makedirs(out, exist_ok=True)
    cases = []

    def case(name, data, pattern):
        path = os.path.join(out, name + ".gguf")
        open(path, "wb").write(data)
        cases.append((path, pattern))

    def patched(at, fmt, *v):
        b = bytearray(good)
        struct.pack_into(fmt, b, at, *v)
        return bytes(b)

    case("truncated-header", good[:20], "needs 8 bytes at byte 16")
    case("truncated-metadata", good[:kvs[3][2] + 2], "cannot fit|the file has [0-9]+ (bytes )?left")
    case("truncated-data", good[:len(good) - 1000], "past the end")
    case("bad-magic", b"GGUX" + good[4:], "not a GGUF file")
    case("version-1", patched(4, "<I", 1), "GGUF version 1 is not supported")
    case("version-99", patched(4, "<I", 99), "GGUF version 99 is not supported")
    case("big-endian", patched(4, "<I", 3 << 24), "big-endian")
    case("huge-kv-count", patched(16, "<Q", 1 << 62), "metadata count")
    case("huge-tensor-count", patched(8, "<Q", 1 << 62), "tensor count")
    # A key's length of 2^63 (ggml's reader once allocated or read past it).
    case("huge-key-length", patched(kvs[0][0], "<Q", 1 << 63), "metadata pair 0: a string of [0-9]+ bytes")
    a = kv["general.architecture"]
    case("huge-string-length", patched(a[2], "<Q", (1 << 64) - 8), "a string of [0-9]+ bytes")
    tok = kv["tokenizer.ggml.tokens"]
    case("huge-array-count", patched(tok[2] + 4, "<Q", 1 << 61), "an array of [0-9]+ strings")
    sc = kv["tokenizer.ggml.scores"]
    case("array-count-past-end", patched(sc[2] + 4, "<Q", 1 << 40), "an array of [0-9]+ f32")
    case("unknown-value-type", patched(a[1], "<I", 99), "unknown value type 99")
    case("unknown-array-type", patched(tok[2], "<I", 77), "array of unknown type 77")
    t0, t1 = tensors[0], tensors[1]
    case("too-many-dims", patched(t0[1], "<I", 9), "9 dimensions")
    case("unknown-tensor-type", patched(t0[2], "<I", 99), "unknown tensor type 99")
    case("huge-dimension", patched(t0[1] + 4, "<Q", 1 << 62), "dimension 0 is [0-9]+|too many|past the end")
    off0, = struct.unpack_from("<Q", good, t0[3])
    case("offset-past-end", patched(t0[3], "<Q", off0 + (1 << 40)), "past the end")
    case("misaligned-offset", patched(t0[3], "<Q", off0 + 1), "not a multiple of the alignment")
    case("overlap", patched(t1[3], "<Q", off0), "overlap")
    for path, pattern in cases:
        print("%s\t%s" % (path, pattern))


main()
