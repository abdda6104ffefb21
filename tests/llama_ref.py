#!/usr/bin/python3
"""llama_ref.py [--inside OUTDIR] DIR IDS... : logits of a Llama checkpoint in
Hugging Face layout, computed independently of cl in NumPy float64
(rotate-half RoPE with rope_theta and linear rope_scaling, grouped-query
attention, SwiGLU, tied or untied head), printed as a .npy on stdout.  Reads
single-file or sharded safetensors in F32, F16 or BF16.  For tests: cl's
forward pass is checked against it on generated checkpoints of any shape.

--inside OUTDIR also writes what happens inside: OUTDIR/hidden.npy, the
residual stream at every layer boundary, (layers + 1, T, hidden): [0] the
embeddings, [L] the input of layer L, [layers] the last layer's output
before the final norm (Hugging Face's hidden_states, except that its last
entry has the norm applied); OUTDIR/attn.npy, the attention probabilities,
(layers, heads, T, T), row t over key positions 0..t; and
OUTDIR/logprobs.npy, log p(ids[t+1] | ids[..t]) for t < T - 1, with
OUTDIR/ppl.txt, exp of their negated mean: the perplexity Hugging Face's
loss with labels=ids gives."""
import glob, json, os, struct, sys
import numpy as np


def tensors(d):
    out = {}
    for path in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            hdr = json.loads(f.read(n))
            data = f.read()
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            raw = data[v["data_offsets"][0]:v["data_offsets"][1]]
            if v["dtype"] == "F32":
                a = np.frombuffer(raw, "<f4")
            elif v["dtype"] == "F16":
                a = np.frombuffer(raw, "<f2")
            else:  # BF16: the high half of an f32
                a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view("<f4")
            out[k] = a.astype(np.float64).reshape(v["shape"])
    return out


def forward(d, ids, inside=None):
    c = json.load(open(os.path.join(d, "config.json")))
    w = tensors(d)
    H = c["num_attention_heads"]
    KV = c.get("num_key_value_heads") or H
    D = c.get("head_dim") or c["hidden_size"] // H
    eps, theta = c["rms_norm_eps"], c.get("rope_theta", 10000.0)
    scale = (c.get("rope_scaling") or {}).get("factor", 1.0)
    T = len(ids)
    rms = lambda x, g: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g
    inv = 1.0 / theta ** (np.arange(0, D, 2) / D)
    ang = (np.arange(T) / scale)[:, None] * inv[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))
    rot = lambda x: x * cos[:, None] + np.concatenate([-x[..., D // 2:], x[..., :D // 2]], -1) * sin[:, None]
    x = w["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    hidden, attn = [], []
    for l in range(c["num_hidden_layers"]):
        hidden.append(x)
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rot((h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, D))
        k = rot((h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, KV, D))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, KV, D)
        k, v = np.repeat(k, H // KV, 1), np.repeat(v, H // KV, 1)  # head h uses KV head h // (H/KV)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(D) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        attn.append(s)
        o = np.einsum("hts,shd->thd", s, v).reshape(T, H * D)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    hidden.append(x)
    if inside is not None:
        inside["hidden"], inside["attn"] = np.stack(hidden), np.stack(attn)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return rms(x, w["model.norm.weight"]) @ head.T


if __name__ == "__main__":
    args, out = sys.argv[1:], None
    if args[:1] == ["--inside"]:
        out, args = args[1], args[2:]
    ids, inside = [int(t) for t in args[1:]], {}
    logits = forward(args[0], ids, inside if out else None)
    if out:
        os.makedirs(out, exist_ok=True)
        np.save(os.path.join(out, "hidden.npy"), inside["hidden"].astype(np.float32))
        np.save(os.path.join(out, "attn.npy"), inside["attn"].astype(np.float32))
        z = logits - logits.max(-1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        lp = lp[np.arange(len(ids) - 1), ids[1:]]
        np.save(os.path.join(out, "logprobs.npy"), lp)
        open(os.path.join(out, "ppl.txt"), "w").write("%.12g\n" % np.exp(-lp.mean()))
    np.save(sys.stdout.buffer, logits.astype(np.float32))
