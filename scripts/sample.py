#!/usr/bin/python3
"""sample.py - a sampler in NumPy that takes cl-sample's place in the loop.

Reads a stream of logits on stdin, writes a stream of tokens on stdout,
following cl-sample's protocol (man/cl-stream.5, "The generation loop"):
after a vector flagged SAMPLE, and after the last vector of a prompt at
PROMPT_END, it writes TOKEN(seq, pos+1) flagged GENERATED|SAMPLE; the last
token of a sequence goes without SAMPLE and is followed by SEQ_END; after END,
once every sequence is over, it writes END and exits.  Control records are not
passed on.  TOKEN records on the input (positions cl-forward --last leaves
out) carry no logits and are only history.

The rule: temperature, then top-k, then a draw seeded by (seed, seq, pos) --
plus one thing cl-sample cannot do, --confident H: where the model is sure
(the entropy of its distribution is below H nats) take the argmax instead of
drawing.  Change sample() to try your own rule.

Usage:
  cl-tokenize "def f(" | cat - fifo | cl-embed | cl-forward --last |
      scripts/sample.py [--greedy | --temperature T] [--top-k K] [--seed N]
      [--confident H] [--max-new-tokens N] [--ignore-eos] | tee fifo | cl-detok
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cl_stream import (END, GENERATED, PROMPT_END, SAMPLE, SEQ_BEGIN, SEQ_END, TOKEN, VECTOR,
                       Reader, StreamError, Writer)


def sample(logits, args, seq, pos):
    """The next token and its log-probability under the model (before temperature)."""
    x = logits.astype(np.float64)
    x[np.isnan(x)] = -np.inf
    logp = x - np.logaddexp.reduce(x)
    p = np.exp(logp)
    entropy = -np.sum(p[p > 0] * logp[p > 0])
    if args.temperature == 0 or entropy < args.confident or not np.isfinite(x.max()):
        t = int(np.argmax(x))
    else:
        z = x / args.temperature
        if 0 < args.top_k < len(z):
            z[z < np.partition(z, -args.top_k)[-args.top_k]] = -np.inf
        q = np.exp(z - z.max())
        # The draw depends only on (seed, seq, pos), as cl-sample's does.
        rng = np.random.default_rng([args.seed, seq, pos])
        t = int(rng.choice(len(q), p=q / q.sum()))
    return t, float(logp[t])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--greedy", action="store_const", dest="temperature", const=0.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--confident", type=float, default=0.0, metavar="H",
                    help="take the argmax where the entropy is below H nats")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--ignore-eos", action="store_true")
    args = ap.parse_args()
    np.seterr(all="ignore")  # -inf logits are allowed (banned tokens): no warnings
    if args.temperature < 0 or args.top_k < 0 or args.max_new_tokens < 1:
        ap.error("--temperature and --top-k must not be negative, --max-new-tokens at least 1")

    r = Reader(sys.stdin.buffer)
    if r.info["kind"] != "vectors":
        sys.exit("sample.py: stdin: expected a stream of logits, got a stream of %s" % r.info.get("what"))
    eos = -1 if args.ignore_eos else r.info.get("eos", -1)
    w = Writer(sys.stdout.buffer, {"kind": "tokens", "producer": "sample.py",
                                   **{k: r.info[k] for k in ("vocab_size", "tokenizer", "bos", "eos", "model")
                                      if k in r.info}})
    seqs = {}  # seq -> {"last": (pos, logits) or None, "acted", "first": first generated pos}
    done = set()
    ended = False

    def act(seq, s):
        pos, logits = s["last"]
        t, lp = sample(logits, args, seq, pos + 1)
        s["acted"] = True
        s["first"] = min(s["first"], pos + 1)
        stop = t == eos or pos + 1 - s["first"] + 1 >= args.max_new_tokens
        w.put(TOKEN, seq, pos + 1, t, GENERATED | (0 if stop else SAMPLE), lp)
        if stop:
            finish(seq, pos + 1)

    def finish(seq, pos):
        w.put(SEQ_END, seq, pos)
        seqs.pop(seq, None)
        done.add(seq)

    for rec in r:
        seq = rec.seq
        if rec.kind == SEQ_BEGIN:
            done.discard(seq)
            seqs[seq] = {"last": None, "acted": False, "first": 1 << 32}
        elif rec.kind == END:
            ended = True
        elif seq in done:
            pass  # records of a finished sequence (its last token coming round)
        elif rec.kind in (VECTOR, TOKEN):
            s = seqs.setdefault(seq, {"last": None, "acted": False, "first": 1 << 32})
            if rec.kind == VECTOR:
                s["last"], s["acted"] = (rec.pos, rec.data), False
                if rec.flags & SAMPLE:
                    act(seq, s)
            elif s["last"] and rec.pos <= s["last"][0]:
                s["last"] = None  # rewound past the logits we hold
        elif rec.kind == PROMPT_END:
            s = seqs.get(seq)
            if not s or not s["last"]:
                sys.exit("sample.py: stdin: sequence %d: its prompt ended before any logits" % seq)
            if not s["acted"]:
                act(seq, s)
        elif rec.kind == SEQ_END:
            finish(seq, rec.pos)
        if ended and not seqs:
            w.put(END)
            return


if __name__ == "__main__":
    try:
        main()
    except StreamError as e:
        sys.exit("sample.py: %s" % e)
    except BrokenPipeError:
        # The loop has shut down downstream, as `head` ends `yes`: end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
