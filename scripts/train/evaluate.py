"""Evaluate an exported model (Hugging Face layout) on the held-out split.

1. Held-out loss in bits per UTF-8 byte, for the model and for a byte-level
   3-gram baseline (interpolated Kneser-Ney, discount 0.75, trained on the
   training split), on the same held-out examples: those whose tokenization
   fits the model's context (BOS + tokens <= max_position_embeddings), a
   fixed sample. Model bits count the prediction of every token after BOS
   (not EOS); baseline bits count every byte. Both divided by the bytes.
2. 20 held-out top-level function headers (signature lines, decorators
   included; at most one per file): greedy completion, cut where the function ends (first
   non-blank line at column 0 after the header, or EOS), parsed with `ast`;
   plain greedy, and greedy after Hugging Face's repetition penalty over the
   sequence so far (prompt included, as cl-sample's --repetition-penalty) for
   each value of --penalties: the decoding `cl-complete --greedy
   --repetition-penalty R --stop-at-dedent` does.
"""
import argparse, ast, hashlib, json, math, os, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config, LlamaModel

LN2 = math.log(2)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32"
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy().reshape(info["shape"]))
    return out


def load_hf(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    cfg = Config(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
                 intermediate_size=c["intermediate_size"], num_hidden_layers=c["num_hidden_layers"],
                 num_attention_heads=c["num_attention_heads"], num_key_value_heads=c["num_key_value_heads"],
                 max_position_embeddings=c["max_position_embeddings"], rms_norm_eps=c["rms_norm_eps"],
                 rope_theta=c["rope_theta"])
    model = LlamaModel(cfg)
    sd = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all(m.startswith("rope_") for m in missing), (missing, unexpected)
    model.eval()
    return model, cfg


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f]


def stable_order(exs):
    return sorted(exs, key=lambda e: hashlib.sha256(e["text"].encode()).hexdigest())


# ---------------------------------------------------------------- 3-gram baseline
class ByteTrigramKN:
    PAD = 0  # two NUL bytes start every example (NUL does not occur in the source)

    def __init__(self, texts, D=0.75):
        counts = np.zeros(256 ** 3, dtype=np.int64)
        buf = []
        for t in texts:
            buf.append(b"\0\0" + t.encode("utf-8"))
            if len(buf) >= 5000:
                counts += self._count(buf)
                buf = []
        if buf:
            counts += self._count(buf)
        C3 = counts.reshape(256, 256, 256).astype(np.float64)
        C2 = C3.sum(-1)                       # C(ab.)
        N1ab = (C3 > 0).sum(-1)               # distinct c after ab
        Nbc = (C3 > 0).sum(0).astype(np.float64)  # distinct a before bc
        Nb = Nbc.sum(-1)                      # N1+(.b.)
        N1b = (Nbc > 0).sum(-1)               # distinct c after b (in continuation counts)
        Nc = (Nbc > 0).sum(0).astype(np.float64)
        P1 = (Nc + 1.0) / (Nc.sum() + 256.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            P2 = np.maximum(Nbc - D, 0) / Nb[:, None] + (D * N1b / Nb)[:, None] * P1[None, :]
            P2 = np.where(Nb[:, None] > 0, P2, P1[None, :])
            P3 = np.maximum(C3 - D, 0) / C2[:, :, None] + (D * N1ab / C2)[:, :, None] * P2[None, :, :]
            P3 = np.where(C2[:, :, None] > 0, P3, P2[None, :, :])
        self.logp = np.log2(P3).astype(np.float64)

    @staticmethod
    def _count(bufs):
        b = np.frombuffer(b"".join(x + b"\0\0" for x in bufs), dtype=np.uint8).astype(np.int64)
        # trigrams that do not cross example boundaries: each piece ends with \0\0 padding
        # of the next, so cross-boundary trigrams only involve the padding; count them all
        # except those whose last byte is padding.
        code = b[:-2] * 65536 + b[1:-1] * 256 + b[2:]
        keep = b[2:] != 0
        return np.bincount(code[keep], minlength=256 ** 3)

    def bits(self, text):
        b = np.frombuffer(b"\0\0" + text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        return -float(self.logp[b[:-2], b[1:-1], b[2:]].sum())


# ---------------------------------------------------------------- model scoring
@torch.no_grad()
def model_bits(model, seqs, batch=16):
    total = 0.0
    seqs = sorted(seqs, key=len)
    for i in range(0, len(seqs), batch):
        chunk = seqs[i:i + batch]
        T = max(len(s) for s in chunk)
        x = torch.zeros(len(chunk), T, dtype=torch.long)
        y = torch.full((len(chunk), T - 1), -100, dtype=torch.long)
        for j, s in enumerate(chunk):
            x[j, :len(s)] = torch.tensor(s)
            y[j, :len(s) - 1] = torch.tensor(s[1:])
        logits = model(x[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                 ignore_index=-100, reduction="sum").item()
    return total / LN2


@torch.no_grad()
def greedy(model, ids, n, eos=2, stop=None, penalty=1.0):
    ids = list(ids)
    ctx = model.cfg.max_position_embeddings
    out = []
    for _ in range(n):
        if len(ids) >= ctx:
            break
        logits = model(torch.tensor([ids]))[0, -1].double()
        if penalty != 1.0:  # HF / cl-sample: each distinct token of the history once
            h = torch.tensor(sorted(set(ids)))
            v = logits[h]
            logits[h] = torch.where(v < 0, v * penalty, v / penalty)
        nxt = int(logits.argmax())  # ties: the lower id, as cl-sample
        if nxt == eos:
            return out, True
        out.append(nxt)
        ids.append(nxt)
        if stop and stop(out):
            break
    return out, False


def header_of(text):
    tree = ast.parse(text)
    fn = tree.body[0]
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    lines = text.splitlines(keepends=True)
    return "".join(lines[:fn.body[0].lineno - 1]) if fn.body[0].lineno > fn.lineno else None


def cut_function(header, completion):
    """header ends with newline; keep completion lines until one at column 0."""
    kept = []
    for line in completion.splitlines(keepends=True):
        if line.strip() and not line[0].isspace():
            break
        kept.append(line)
    return header + "".join(kept)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "..", "models", "cl-python-small"))
    ap.add_argument("--data", default="/tmp/cl-train/data")
    ap.add_argument("--n-bpb", type=int, default=800, help="held-out examples scored for bits per byte")
    ap.add_argument("--n-func", type=int, default=20)
    ap.add_argument("--max-new", type=int, default=160)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--penalties", default="1.1,1.2,1.3", help="repetition penalties also measured on the completions (comma-separated; empty: none)")
    ap.add_argument("--show-penalty", type=float, default=1.3, help="EVAL.md also lists the completions with this penalty")
    ap.add_argument("--trigram-data", action="append", default=[], help="also a 3-gram trained on DIR/train.jsonl (e.g. the unshaped first-generation corpus); repeatable")
    ap.add_argument("--no-bpb", action="store_true", help="completions only (quick look at a checkpoint)")
    ap.add_argument("--write", help="write EVAL.md here (default: MODEL/EVAL.md)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    import sentencepiece as spm
    t0 = time.time()
    model, cfg = load_hf(a.model)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(a.model, "tokenizer.model"))
    held = stable_order(load_jsonl(os.path.join(a.data, "heldout.jsonl")))

    res = {}
    if not a.no_bpb:
        res = bits_per_byte(a, model, cfg, sp, held)
    pens = [1.0] + [float(x) for x in a.penalties.split(",") if x.strip()]
    runs = {}
    for pen in pens:
        rows = completions(a, model, sp, held, pen)
        runs[pen] = rows
        key = "" if pen == 1.0 else "_penalty_%g" % pen
        res["functions"] = len(rows)
        res["functions_parse" + key] = sum(r["parses"] for r in rows)
        res["functions_ended" + key] = sum(r["ended"] != "no (budget)" for r in rows)
        print(json.dumps({"penalty": pen, "parse": res["functions_parse" + key], "ended": res["functions_ended" + key]}), flush=True)
    rows = runs[1.0]
    res["parse_rate"] = res["functions_parse"] / max(1, len(rows))
    res["eval_seconds"] = round(time.time() - t0, 1)
    print(json.dumps(res), flush=True)
    write_report(a, model, res, runs)
    return res


def bits_per_byte(a, model, cfg, sp, held):
    sel, seqs = [], []
    for e in held:
        ids = [1] + sp.encode(e["text"])
        if len(ids) <= cfg.max_position_embeddings:
            sel.append(e["text"])
            seqs.append(ids)
        if len(sel) >= a.n_bpb:
            break
    nbytes = sum(len(t.encode("utf-8")) for t in sel)
    ntok = sum(len(s) - 1 for s in seqs)
    mbits = model_bits(model, seqs)
    print("scored %d held-out examples, %d bytes, %d tokens" % (len(sel), nbytes, ntok), flush=True)
    train_texts = [e["text"] for e in load_jsonl(os.path.join(a.data, "train.jsonl"))]
    tri = ByteTrigramKN(train_texts)
    del train_texts
    tbits = sum(tri.bits(t) for t in sel)
    del tri
    res = {"heldout_examples": len(sel), "heldout_bytes": nbytes, "heldout_tokens": ntok,
           "model_bits_per_byte": mbits / nbytes, "model_nats_per_token": mbits * LN2 / ntok,
           "trigram_bits_per_byte": tbits / nbytes, "trigram_train": os.path.join(a.data, "train.jsonl")}
    res["trigram_other"] = {}
    for d in a.trigram_data:
        tri = ByteTrigramKN([e["text"] for e in load_jsonl(os.path.join(d, "train.jsonl"))])
        res["trigram_other"][os.path.join(d, "train.jsonl")] = sum(tri.bits(t) for t in sel) / nbytes
        del tri
    print(json.dumps(res), flush=True)
    return res


def completions(a, model, sp, held, penalty):
    cands = [e for e in held if e["kind"] == "function"]
    funcs = []
    used_files = set()
    for e in cands:  # at most one function per held-out file
        h = header_of(e["text"])
        if h is None or len(sp.encode(h)) > 80 or e["file"] in used_files:
            continue
        used_files.add(e["file"])
        funcs.append((e, h))
        if len(funcs) >= a.n_func:
            break
    rows = []
    for e, h in funcs:
        ids = [1] + sp.encode(h)
        pre = sp.decode(ids[1:])

        def ended(out, ids=ids, pre=pre, h=h):
            if len(out) % 8:
                return False
            comp = sp.decode(ids[1:] + out)[len(pre):]
            return cut_function(h, comp) != h + comp

        g, eos = greedy(model, ids, a.max_new, stop=ended, penalty=penalty)
        comp = sp.decode(ids[1:] + g)[len(pre):]
        cut = cut_function(h, comp)
        finished = eos or cut != h + comp
        ok = False
        if finished:  # a function that never ends (token budget or context exhausted) fails
            try:
                ast.parse(cut)
                ok = True
            except SyntaxError:
                pass
        rows.append({"file": e["file"], "header": h, "completion": cut[len(h):], "parses": ok,
                     "ended": "eos" if eos else ("dedent" if finished else "no (budget)")})
        print("%s %s" % ("PARSES" if ok else "fails ", h.strip().splitlines()[-1][:90]), flush=True)
    return rows


def write_report(a, model, res, runs):
    rows = runs[1.0]
    info = {}
    tj = os.path.join(a.model, "training.json")
    if os.path.exists(tj):
        with open(tj) as f:
            info = json.load(f)
    out = a.write or os.path.join(a.model, "EVAL.md")
    n = len(rows)
    with open(out, "w") as f:
        f.write("# cl-python-small: evaluation\n\n")
        f.write("Measured by `scripts/eval-model` on the held-out split (files held out by path hash; see corpus-manifest.tsv.gz).\n\n")
        f.write("| | value |\n|---|---|\n")
        f.write("| parameters | %d |\n" % sum(p.numel() for p in model.parameters()))
        if info:
            f.write("| training | %d steps, %d tokens, %.0f s |\n" % (info["step"], info["tokens"], info["train_time_s"]))
        if "model_bits_per_byte" in res:
            f.write("| held-out examples scored | %d (%d bytes, %d tokens) |\n" % (res["heldout_examples"], res["heldout_bytes"], res["heldout_tokens"]))
            f.write("| model, bits per byte | **%.3f** (%.3f nats/token) |\n" % (res["model_bits_per_byte"], res["model_nats_per_token"]))
            f.write("| byte 3-gram (interpolated Kneser-Ney), bits per byte, trained on this model's training split | %.3f |\n" % res["trigram_bits_per_byte"])
            for d, v in res.get("trigram_other", {}).items():
                f.write("| byte 3-gram, bits per byte, trained on `%s` | %.3f |\n" % (d, v))
        f.write("| greedy function completions that parse | **%d / %d** (%d ended) |\n" % (res["functions_parse"], n, res["functions_ended"]))
        for pen in sorted(runs):
            if pen != 1.0:
                k = "_penalty_%g" % pen
                f.write("| greedy, repetition penalty %g: completions that parse | **%d / %d** (%d ended) |\n" % (pen, res["functions_parse" + k], n, res["functions_ended" + k]))
        f.write("\n")
        if "model_bits_per_byte" in res:
            f.write("Bits per byte: the model's summed negative log2-likelihood of every token after BOS, and the 3-gram's of every byte, each divided by the UTF-8 bytes of the same examples (held-out functions, methods and module heads that fit the model's context; a fixed sample ordered by content hash).\n\n")
        f.write("Completions: %d held-out top-level functions; prompt = BOS + the signature lines (decorators included); greedy decoding, up to %d tokens, cut at the first non-blank line at column 0 (or EOS), then `ast.parse`; a completion that has not ended within the budget counts as a failure. With a repetition penalty R, before the argmax every distinct token of the sequence so far (BOS and prompt included) has its logit divided by R when positive, multiplied by R when negative (Hugging Face's, and `cl-sample --repetition-penalty`'s); that and the cut are what `cl-complete --greedy --repetition-penalty R --stop-at-dedent` does.\n\n" % (n, a.max_new))
        shown = [(1.0, "greedy")]
        if a.show_penalty in runs and a.show_penalty != 1.0:
            shown.append((a.show_penalty, "greedy, repetition penalty %g" % a.show_penalty))
        for pen, title in shown:
            f.write("## Completions: %s\n\n" % title)
            for i, r in enumerate(runs[pen]):
                f.write("### %d. %s (ended: %s) — %s\n\n" % (i + 1, "parses" if r["parses"] else "does not parse", r["ended"], r["file"]))
                f.write("```python\n%s%s```\n\n" % (r["header"], r["completion"] if r["completion"].endswith("\n") else r["completion"] + "\n"))
    js = {**res, "completions": rows}
    for pen in sorted(runs):
        if pen != 1.0:
            js["completions_penalty_%g" % pen] = runs[pen]
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(js, f, indent=1)
    return res


if __name__ == "__main__":
    main()
