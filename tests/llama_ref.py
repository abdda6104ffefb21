#!/usr/bin/python3
"""llama_ref.py DIR IDS... : logits of a Llama checkpoint in Hugging Face
layout, computed independently of cl in NumPy float64 (rotate-half RoPE with
rope_theta and linear rope_scaling, grouped-query attention, SwiGLU, tied or
untied head), printed as a .npy on stdout.  Reads single-file or sharded
safetensors in F32, F16 or BF16.  For tests: cl's forward pass is checked
against it on generated checkpoints of any shape."""
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


def forward(d, ids):
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
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rot((h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, D))
        k = rot((h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, KV, D))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, KV, D)
        k, v = np.repeat(k, H // KV, 1), np.repeat(v, H // KV, 1)  # head h uses KV head h // (H/KV)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(D) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", s, v).reshape(T, H * D)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return rms(x, w["model.norm.weight"]) @ head.T


if __name__ == "__main__":
    np.save(sys.stdout.buffer, forward(sys.argv[1], [int(t) for t in sys.argv[2:]]).astype(np.float32))
