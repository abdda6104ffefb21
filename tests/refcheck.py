#!/usr/bin/python3
"""refcheck.py GOT.npy REF.f32 TOL [--rows A:B] [--last]: compare logits with a
reference (raw little-endian float32, as many rows as GOT has columns per
row).  Prints the max |difference| and argmax agreement; exits 1 when the
difference exceeds TOL or any argmax differs."""
import sys
import numpy as np

got = np.load(sys.argv[1])
ref = np.fromfile(sys.argv[2], dtype="<f4").reshape(-1, got.shape[1])
tol = float(sys.argv[3])
if "--last" in sys.argv:
    ref = ref[-1:]
if "--rows" in sys.argv:
    a, b = sys.argv[sys.argv.index("--rows") + 1].split(":")
    got = got[int(a):int(b)]
if got.shape != ref.shape:
    print(f"shape {got.shape}, reference {ref.shape}")
    sys.exit(1)
d = float(np.abs(got - ref).max())
agree = float((got.argmax(1) == ref.argmax(1)).mean())
print(f"max |diff| {d:.3g} (tolerance {tol:g}), argmax agreement {agree:.0%}")
sys.exit(0 if d <= tol and agree == 1.0 else 1)
