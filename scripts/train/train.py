"""Train the small Llama-architecture Python model. Resumable, seeded, CPU."""
import argparse, json, math, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config, LlamaModel

BOS = 1


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default="/tmp/cl-train/data")
    p.add_argument("--ckpt", default="/tmp/cl-train/ckpt")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--steps", type=int, default=1800, help="total optimizer steps (cosine schedule length; may be changed on resume)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-frac", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2, help="max torch threads; with --adaptive-threads the trainer also tries fewer")
    p.add_argument("--adaptive-threads", type=int, default=1, help="1: every 150 steps time 2 steps at the other thread count and keep the faster (2 threads lose badly when the cores are shared)")
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ffn", type=int, default=512)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--deadline", type=float, default=0, help="unix time: save and stop when reached")
    p.add_argument("--no-resume", action="store_true")
    return p.parse_args(argv)


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    frac = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))


class Batches:
    """Windows of ctx+1 tokens that start at an example's BOS (position 0 is BOS,
    as at inference). Window choice depends only on (seed, step): reproducible
    and resumable."""

    def __init__(self, path, ctx, batch, seed):
        self.data = np.fromfile(path, dtype=np.uint16)
        starts = np.nonzero(self.data == BOS)[0]
        self.starts = starts[starts + ctx + 1 <= len(self.data)]
        self.ctx, self.batch, self.seed = ctx, batch, seed

    def get(self, step):
        rng = np.random.default_rng([self.seed, step])
        idx = self.starts[rng.integers(0, len(self.starts), self.batch)]
        x = np.stack([self.data[i:i + self.ctx + 1] for i in idx]).astype(np.int64)
        return torch.from_numpy(x)


def save(path, obj):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def heldout_loss(model, hb, n=8):
    model.eval()
    tot = 0.0
    for i in range(n):
        x = hb.get(10_000_000 + i)
        logits = model(x[:, :-1])
        tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1)).item()
    model.train()
    return tot / n


def main(argv=None):
    a = get_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.ckpt, exist_ok=True)
    cfg = Config(vocab_size=a.vocab, hidden_size=a.dim, intermediate_size=a.ffn,
                 num_hidden_layers=a.layers, num_attention_heads=a.heads,
                 num_key_value_heads=a.kv_heads, max_position_embeddings=a.ctx,
                 rms_norm_eps=a.eps, rope_theta=a.rope_theta)
    model = LlamaModel(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    step, tokens, train_time = 0, 0, 0.0
    last = os.path.join(a.ckpt, "last.pt")
    if os.path.exists(last) and not a.no_resume:
        ck = torch.load(last)
        if ck["config"] != cfg.to_dict():
            sys.exit("checkpoint config differs from arguments: %s" % ck["config"])
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, tokens, train_time = ck["step"], ck["tokens"], ck["train_time"]
        print("resumed from %s at step %d (%d tokens)" % (last, step, tokens), flush=True)
    nparams = sum(p.numel() for p in model.parameters())
    print("config %s" % json.dumps(cfg.to_dict()), flush=True)
    print("params %d (%.2fM); %d tokens/step; %d steps planned" % (nparams, nparams / 1e6, a.batch * a.ctx, a.steps), flush=True)
    tb = Batches(os.path.join(a.data, "train.u16"), a.ctx, a.batch, a.seed)
    hb = Batches(os.path.join(a.data, "heldout.u16"), a.ctx, a.batch, a.seed + 1)
    print("train stream %d tokens, %d windows; heldout %d tokens" % (len(tb.data), len(tb.starts), len(hb.data)), flush=True)
    log = open(os.path.join(a.ckpt, "log.jsonl"), "a")
    model.train()
    t_last = time.time()
    ema = None
    cur_threads = 1 if (a.adaptive_threads and a.threads > 1) else a.threads
    speed = {}  # threads -> ema tok/s
    explore_until = -1
    while step < a.steps:
        if a.adaptive_threads and a.threads > 1:
            if step % 150 == 149 and explore_until < step:
                other = 1 if cur_threads != 1 else a.threads
                cur_threads, explore_until = other, step + 2
            elif explore_until == step:
                cur_threads = max(speed, key=speed.get)
            torch.set_num_threads(cur_threads)
        if a.deadline and time.time() > a.deadline:
            print("deadline reached at step %d" % step, flush=True)
            break
        t0 = time.time()
        lr = lr_at(step, a)
        for g in opt.param_groups:
            g["lr"] = lr
        x = tb.get(step)
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip).item()
        opt.step()
        step += 1
        tokens += x.shape[0] * a.ctx
        dt = time.time() - t0
        train_time += dt
        l = loss.item()
        ts = x.shape[0] * a.ctx / dt
        speed[cur_threads] = ts if cur_threads not in speed else 0.7 * speed[cur_threads] + 0.3 * ts
        ema = l if ema is None else 0.95 * ema + 0.05 * l
        rec = {"step": step, "loss": round(l, 4), "lr": lr, "gnorm": round(gn, 3), "tokens": tokens,
               "tok_s": round(x.shape[0] * a.ctx / dt), "train_time": round(train_time, 1), "threads": cur_threads}
        if step % a.eval_every == 0 or step == a.steps:
            rec["heldout_loss"] = round(heldout_loss(model, hb), 4)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if step % 10 == 0 or "heldout_loss" in rec:
            print("step %5d/%d loss %.4f (ema %.4f) lr %.2e gnorm %.2f tok/s %d tokens %d time %.0fs thr %d%s" % (
                step, a.steps, l, ema, lr, gn, rec["tok_s"], tokens, train_time, cur_threads,
                (" heldout %.4f" % rec["heldout_loss"]) if "heldout_loss" in rec else ""), flush=True)
        if step % a.save_every == 0 or step == a.steps:
            save(last, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "tokens": tokens, "train_time": train_time, "config": cfg.to_dict(),
                        "args": vars(a)})
    save(last, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "tokens": tokens, "train_time": train_time, "config": cfg.to_dict(), "args": vars(a)})
    print("done: step %d, %d tokens, %.0fs" % (step, tokens, train_time), flush=True)


if __name__ == "__main__":
    main()
