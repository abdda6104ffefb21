#!/usr/bin/python3
"""beam.py - beam search over one `cl-embed | cl-forward` pair, using rewind.

Prints the most probable continuation of PROMPT that a beam of --width
candidates finds (by total log-probability, no length penalty) and that
log-probability.  There is no sampler in this loop: the script writes token
records into cl-embed itself and reads the logits cl-forward computes for
every position it sends.

Each of the `width` slots is one sequence id in cl-forward, with its own KV
cache.  A candidate that continues the candidate already in its parent's slot
costs one position.  Where a candidate has several children, the others take
over slots whose candidates died out: the script sends them from the first
position where the two token sequences differ, a position earlier than the
slot's cache holds, and cl-forward REWINDS that cache to it (cl-stream(5)):
only the positions that differ are computed again.  With --width 1 this is
greedy search.

Usage: scripts/beam.py [-m DIR] [--width K] [--max-new-tokens N] [--ignore-eos]
                       [--ctx N] [--json] PROMPT
  --json  one JSON object: prompt and generated token ids, logprob, text, and
          the positions computed and rewinds made
"""
import argparse
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cl_stream import (END, GENERATED, PROMPT, SEQ_BEGIN, SEQ_END, TOKEN, VECTOR, Reader,
                       StreamError, Writer)


def program(name):
    """A cl program: from PATH, else from the bin/ beside scripts/."""
    return shutil.which(name) or os.path.join(HERE, "..", "bin", name)


class Beam:
    def __init__(self, tokens, score, done=False, slot=None, parent_slot=None):
        self.tokens, self.score, self.done, self.slot = tokens, score, done, slot
        self.parent_slot = parent_slot  # the slot that holds all but its last token
        self.logp = None  # (vocab) log-probabilities of the next token


class Model:
    """cl-embed | cl-forward as a coprocess, with `width` slots (sequence ids)."""

    def __init__(self, argv_m, info, width, ctx):
        self.embed = subprocess.Popen([program("cl-embed")] + argv_m, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)
        self.fwd = subprocess.Popen([program("cl-forward"), "--ctx", str(ctx)] + argv_m,
                                    stdin=self.embed.stdout, stdout=subprocess.PIPE)
        self.embed.stdout.close()  # cl-forward's now
        # The logits are read by a thread, so that cl-forward never blocks on
        # a full pipe while we are still writing (no deadlock, any prompt length).
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.w = Writer(self.embed.stdin, dict(info, kind="tokens", what="tokens", producer="beam.py"),
                        flush=False)
        self.content = [[] for _ in range(width)]  # tokens each slot's cache holds
        self.positions = self.rewinds = 0
        for s in range(width):
            self.w.put(SEQ_BEGIN, s)

    def _read(self):
        try:
            for rec in Reader(self.fwd.stdout, "cl-forward"):
                if rec.kind == VECTOR:
                    self.q.put(rec)
        except StreamError as e:
            self.q.put(e)
        self.q.put(None)

    def feed(self, slot, tokens, n_prompt):
        """Send what slot's cache lacks of `tokens`; returns the position
        whose logits give the next token."""
        have = self.content[slot]
        p = 0
        while p < min(len(have), len(tokens)) and have[p] == tokens[p]:
            p += 1
        p = min(p, len(tokens) - 1)  # the last position is always sent: its logits are needed
        if p < len(have):
            self.rewinds += 1
        for i in range(p, len(tokens)):
            self.w.put(TOKEN, slot, i, tokens[i], PROMPT if i < n_prompt else GENERATED)
        self.positions += len(tokens) - p
        self.content[slot] = list(tokens)
        return len(tokens) - 1

    def logits(self, want):
        """Wait for the logits of every (slot, pos) in `want`; {slot: vector}."""
        got = {}
        while len(got) < len(want):
            rec = self.q.get()
            if rec is None or isinstance(rec, Exception):
                self.close()
                sys.exit("beam.py: cl-forward ended early%s" % (": %s" % rec if rec else ""))
            if want.get(rec.seq) == rec.pos:
                got[rec.seq] = rec.data
        return got

    def close(self):
        try:
            for s in range(len(self.content)):
                self.w.put(SEQ_END, s)
            self.w.put(END)
            self.embed.stdin.close()
        except BrokenPipeError:
            pass
        return self.embed.wait() | self.fwd.wait()


def log_softmax(x):
    x = x.astype(np.float64)
    x[np.isnan(x)] = -np.inf
    return x - np.logaddexp.reduce(x)


def search(model, prompt, args, eos):
    width = args.width
    beams = [Beam(list(prompt), 0.0, slot=0)]
    for step in range(args.max_new_tokens):
        live = [b for b in beams if not b.done]
        want = {b.slot: model.feed(b.slot, b.tokens, len(prompt)) for b in live}
        model.w.f.flush()  # one write per step; cl-forward batches what arrives together
        got = model.logits(want)
        for b in live:
            b.logp = log_softmax(got[b.slot])
        # Candidates: each live beam's `width` best tokens, and finished beams
        # as they are.  Ties go to the earlier beam and the smaller token id,
        # as cl-sample's argmax does, so that --width 1 is greedy exactly.
        cand = []
        for i, b in enumerate(beams):
            if b.done:
                cand.append((-b.score, i, -1))
                continue
            for t in np.argsort(-b.logp, kind="stable")[:width]:
                cand.append((-(b.score + b.logp[t]), i, int(t)))
        cand.sort()
        new = []
        for negscore, i, t in cand[:width]:
            parent = beams[i]
            if t < 0:
                new.append(Beam(parent.tokens, parent.score, True))
            else:
                new.append(Beam(parent.tokens + [t], -negscore, t == eos, parent_slot=parent.slot))
        # A child continues in its parent's slot where it is the first to
        # claim it; the others take the free slot that shares the longest
        # prefix with them, and cl-forward rewinds that slot to where they differ.
        taken = set()
        for b in new:
            if not b.done and b.parent_slot not in taken:
                b.slot = b.parent_slot
                taken.add(b.slot)
        for b in new:
            if not b.done and b.slot is None:
                free = [s for s in range(width) if s not in taken]
                b.slot = max(free, key=lambda s: common(model.content[s], b.tokens))
                taken.add(b.slot)
        beams = new
        if all(b.done for b in beams):
            break
    return beams


def common(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", dest="model", help="model directory (default: the programs' default)")
    ap.add_argument("--width", type=int, default=3, help="candidates kept at each step (default 3)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--ignore-eos", action="store_true", help="do not end a candidate at EOS")
    ap.add_argument("--ctx", type=int, help="cl-forward's cache size (default: prompt + new tokens)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("prompt")
    args = ap.parse_args()
    np.seterr(all="ignore")  # -inf logits are allowed (banned tokens): no warnings
    if args.width < 1 or args.max_new_tokens < 1:
        ap.error("--width and --max-new-tokens must be at least 1")
    argv_m = ["-m", args.model] if args.model else []

    # The prompt's tokens, and the tokenizer's fingerprint for our own stream.
    tok = subprocess.run([program("cl-tokenize")] + argv_m, input=args.prompt.encode(), stdout=subprocess.PIPE)
    if tok.returncode:
        sys.exit(1)
    r = Reader(io.BytesIO(tok.stdout), "cl-tokenize")
    prompt = [rec.token for rec in r if rec.kind == TOKEN and rec.seq == 0]
    info = {k: r.info[k] for k in ("vocab_size", "tokenizer", "bos", "eos", "model") if k in r.info}
    if not prompt:
        sys.exit("beam.py: the prompt has no tokens (and the model no BOS to begin with)")
    eos = -1 if args.ignore_eos else info.get("eos", -1)

    model = Model(argv_m, info, args.width, args.ctx or len(prompt) + args.max_new_tokens)
    try:
        beams = search(model, prompt, args, eos)
    except BrokenPipeError:
        model.close()
        sys.exit("beam.py: cl-embed ended early")
    if model.close():
        sys.exit("beam.py: cl-embed or cl-forward failed")
    best = beams[0]

    out = io.BytesIO()
    w = Writer(out, dict(info, kind="tokens", producer="beam.py"))
    for i, t in enumerate(best.tokens):
        w.put(TOKEN, 0, i, t, PROMPT if i < len(prompt) else GENERATED)
    w.put(END)
    text = subprocess.run([program("cl-detok")] + argv_m, input=out.getvalue(),
                          stdout=subprocess.PIPE).stdout.decode("utf-8", "replace")
    if args.json:
        print(json.dumps({"prompt_tokens": prompt, "tokens": best.tokens[len(prompt):],
                          "logprob": best.score, "text": text, "positions": model.positions,
                          "rewinds": model.rewinds}))
    else:
        print(text)
        print("log-probability %.4f over %d tokens (%d positions computed, %d rewinds)" %
              (best.score, len(best.tokens) - len(prompt), model.positions, model.rewinds))


if __name__ == "__main__":
    main()
