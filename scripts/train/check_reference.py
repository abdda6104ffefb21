"""Independent NumPy forward pass of an exported model (HF Llama semantics),
compared against its reference/*.f32 logits. Usage: check_reference.py MODEL_DIR"""
import glob, json, os, struct, sys
import numpy as np


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    w = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype="<f4").reshape(v["shape"]).astype(np.float64)
         for k, v in hdr.items() if k != "__metadata__"}
    return cfg, w


def forward(cfg, w, ids):
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps, theta, T = cfg["rms_norm_eps"], cfg["rope_theta"], len(ids)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    inv = 1.0 / theta ** (np.arange(0, D, 2) / D)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))

    def rope(x):  # x [T, heads, D], rotate_half
        h = D // 2
        rot = np.concatenate([-x[..., h:], x[..., :h]], -1)
        return x * cos[:, None, :] + rot * sin[:, None, :]

    x = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope((h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, D))
        k = rope((h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, KV, D))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, KV, D)
        out = np.zeros((T, H, D))
        for hh in range(H):
            kv = hh // (H // KV)
            s = q[:, hh] @ k[:, kv].T / np.sqrt(D)
            s[np.triu(np.ones((T, T), bool), 1)] = -np.inf
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            out[:, hh] = s @ v[:, kv]
        x = x + out.reshape(T, H * D) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    return x @ head.T


def main(model_dir):
    cfg, w = load(model_dir)
    worst = 0.0
    for js in sorted(glob.glob(os.path.join(model_dir, "reference", "*.json"))):
        with open(js) as f:
            meta = json.load(f)
        ref = np.fromfile(js[:-5] + ".f32", dtype="<f4").reshape(meta["shape"])
        got = forward(cfg, w, meta["input_ids"])
        err = float(np.abs(got - ref).max())
        same = bool((got.argmax(-1) == np.array(meta["argmax_per_position"])).all())
        worst = max(worst, err)
        print("%-12s tokens %3d  max|numpy-torch| %.2e  argmax equal: %s" % (os.path.basename(js)[:-5], len(meta["input_ids"]), err, same))
    print("worst %.2e" % worst)
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
