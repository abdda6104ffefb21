"""Export a training checkpoint to Hugging Face layout, with reference logits.

Writes config.json, model.safetensors (F32, written by hand), tokenizer.model,
and reference/NAME.{f32,json}: float32 logits [n_tokens, vocab] (raw little
endian) for fixed prompts with input_ids = [1] + sp.encode(prompt), plus the
argmax per position and a 32-token greedy continuation (no sampling).
"""
import argparse, json, os, shutil, struct, sys
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config, LlamaModel

PROMPTS = {
    "fibonacci": "def fibonacci(",
    "read_lines": "def read_lines(path):\n    \"\"\"Return the lines of a text file.\"\"\"\n",
    "class_init": "class Point:\n    def __init__(self, x, y):\n        self.",
}


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    cfg = Config(**{k: v for k, v in ck["config"].items() if k != "head_dim"})
    model = LlamaModel(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    return model, cfg, ck


def write_safetensors(path, tensors, metadata=None):
    header = {}
    off = 0
    blobs = []
    for name, t in tensors:
        t = t.detach().contiguous().to(torch.float32)
        b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


@torch.no_grad()
def greedy(model, ids, n, eos=2):
    ids = list(ids)
    out = []
    ctx = model.cfg.max_position_embeddings
    for _ in range(n):
        x = torch.tensor([ids[-ctx:]])
        nxt = int(model(x)[0, -1].argmax())
        out.append(nxt)
        ids.append(nxt)
        if nxt == eos:
            break
    return out


@torch.no_grad()
def reference(model, sp, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, prompt in PROMPTS.items():
        ids = [1] + sp.encode(prompt)
        logits = model(torch.tensor([ids]))[0].float()
        logits.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".f32"))
        g = greedy(model, ids, 32)
        meta = {
            "prompt": prompt,
            "input_ids": ids,
            "shape": list(logits.shape),
            "dtype": "float32, little endian, row-major [n_tokens, vocab_size]",
            "argmax_per_position": logits.argmax(-1).tolist(),
            "greedy_ids": g,
            "greedy_text": sp.decode(ids[1:] + g)[len(sp.decode(ids[1:])):],
            "note": "computed by scripts/train/model.py (torch, float32); greedy_ids: 32 argmax steps without KV cache, stopping early only at eos (2)",
        }
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        print("%s: %r -> %r" % (name, prompt, meta["greedy_text"]))


def export(ckpt, tokenizer, out):
    import sentencepiece as spm
    model, cfg, ck = load_checkpoint(ckpt)
    os.makedirs(out, exist_ok=True)
    sd = model.state_dict()
    names = ["model.embed_tokens.weight"]
    for i in range(cfg.num_hidden_layers):
        p = "model.layers.%d." % i
        names += [p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                  p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight",
                  p + "post_attention_layernorm.weight", p + "mlp.gate_proj.weight",
                  p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"]
    names += ["model.norm.weight", "lm_head.weight"]
    assert set(names) == set(k for k in sd if not k.startswith("rope_")), "unexpected tensor names"
    write_safetensors(os.path.join(out, "model.safetensors"), [(n, sd[n]) for n in names])
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg.hf_config(), f, indent=2)
        f.write("\n")
    shutil.copyfile(tokenizer, os.path.join(out, "tokenizer.model"))
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2}, f, indent=2)
        f.write("\n")
    sp = spm.SentencePieceProcessor(model_file=tokenizer)
    reference(model, sp, os.path.join(out, "reference"))
    info = {"step": ck["step"], "tokens": ck["tokens"], "train_time_s": round(ck["train_time"], 1),
            "params": sum(p.numel() for p in model.parameters()), "train_args": ck["args"]}
    log = os.path.join(os.path.dirname(os.path.abspath(ckpt)), "log.jsonl")
    if os.path.exists(log):  # compact loss curve: last record of each step, every 100 steps
        recs = {}
        with open(log) as f:
            for l in f:
                r = json.loads(l)
                recs[r["step"]] = r
        keep = sorted(s for s in recs if s % 100 == 0 or s == ck["step"] or "heldout_loss" in recs[s])
        window = lambda s: [recs[t]["loss"] for t in range(max(1, s - 49), s + 1) if t in recs]
        info["curve"] = [{"step": s, "train_loss_mean50": round(sum(window(s)) / len(window(s)), 4),
                          "lr": float("%.3g" % recs[s]["lr"]), "tokens": recs[s]["tokens"],
                          **({"heldout_loss": recs[s]["heldout_loss"]} if "heldout_loss" in recs[s] else {})}
                         for s in keep if s <= ck["step"]]
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in info.items() if k != "train_args"}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ckpt", default="/tmp/cl-train/ckpt/last.pt")
    ap.add_argument("--tokenizer", default="/tmp/cl-train/data/tokenizer.model")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    export(a.ckpt, a.tokenizer, a.out)
