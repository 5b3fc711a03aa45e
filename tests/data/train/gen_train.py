#!/usr/bin/python3
"""Fixtures for tests/unit/test_train.c: a tiny GPT-2 with seeded random
weights, batches of tokens, and what torch autograd and torch.optim.AdamW
make of them.

Run with Debian's python3 (python3-torch 1.13, python3-numpy,
python3-zstandard), from the repository top:

    /usr/bin/python3 tests/data/train/gen_train.py

writes tests/data/train/train.qft and train.npz (committed, 200 kB
together; the arrays compressed, np.savez_compressed).

The model: 2 layers, n_embd 32, 4 heads, n_inner 32, vocab 50, n_ctx 16,
head tied to the token embedding, LayerNorm eps 1e-5; weights f32,
normal with scales that give every parameter a gradient well above
rounding (embeddings 0.25 and 0.3, matrices 0.15-0.25, biases 0.1-0.2,
LayerNorm weights 1 + 0.2 N(0, 1)).  The forward pass is
tests/data/model/gen_model.py's forward() (Hugging Face's GPT-2 in plain
torch, f32), run on each sequence; the loss is the mean NLL over all
B x T targets, as qf_train_forward computes it.

Arrays in train.npz:

  tokens   i32 [3, 3, 17]   three batches of B = 3 sequences of T + 1 = 17
                            tokens; position i predicts token i + 1
  loss     f64 [3]          the loss of each batch, at the weights the
                            optimizer has reached before it
  nll      f32 [3, 16]      batch 0's per-target NLL at the initial weights
  logits   f32 [3, 16, 50]  batch 0's logits at the initial weights
  grad.NAME  f32            d loss / d NAME of batch 0 at the initial
                            weights, every parameter
  norm     f64 [3]          the global gradient norm before clipping, per
                            step
  after.NAME f32            every parameter after three steps: batch s at
                            step s, torch.nn.utils.clip_grad_norm_, then
                            torch.optim.AdamW (two groups: weight decay on
                            the blocks' four linear weights, none on
                            biases, LayerNorm weights and embeddings),
                            the learning rate from a LambdaLR with
                            qf_train_lr's warm-up and cosine schedule
  hp       f64 [9]          lr, min_lr, warmup, steps, weight_decay, beta1,
                            beta2, eps, clip of those steps (clip 3: the
                            first two steps are clipped, the third not;
                            warm-up over two steps, then the cosine from
                            lr)
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
import gen_model  # noqa: E402

CFG = {"n_layer": 2, "n_embd": 32, "n_head": 4, "n_ctx": 16, "n_inner": 32,
       "vocab_size": 50, "layer_norm_epsilon": 1e-5,
       "tie_word_embeddings": True}
B, T, STEPS = 3, 16, 3
# lr, min_lr, warmup, steps, weight_decay, beta1, beta2, eps, clip
HP = [1e-2, 1e-3, 2, 3, 0.1, 0.9, 0.95, 1e-8, 3.0]
DECAY = ("attn.qkv.weight", "attn.out.weight", "mlp.in.weight",
         "mlp.out.weight")


def lr_factor(s):
    """qf_train_lr(o, s) / o->lr, in the same operations."""
    lr, min_lr, warmup, steps = HP[0], HP[1], HP[2], HP[3]
    if s < warmup:
        return (s + 1) / warmup
    r = min_lr / lr
    p = (s - warmup) / (steps - warmup if steps > warmup + 1 else 1)
    p = min(p, 1.0)
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p))


def init_weights(g):
    d, F, V, C = CFG["n_embd"], CFG["n_inner"], CFG["vocab_size"], CFG["n_ctx"]

    def n(*shape, std=1.0, mean=0.0):
        return (mean + std * torch.randn(*shape, generator=g)).float()

    W = {"tok_emb.weight": n(V, d, std=0.25), "pos_emb.weight": n(C, d, std=0.3)}
    for l in range(CFG["n_layer"]):
        p = "layers.%d." % l
        W[p + "ln1.weight"] = n(d, std=0.2, mean=1.0)
        W[p + "ln1.bias"] = n(d, std=0.1)
        W[p + "attn.qkv.weight"] = n(3 * d, d, std=0.25)
        W[p + "attn.qkv.bias"] = n(3 * d, std=0.1)
        W[p + "attn.out.weight"] = n(d, d, std=0.15)
        W[p + "attn.out.bias"] = n(d, std=0.1)
        W[p + "ln2.weight"] = n(d, std=0.2, mean=1.0)
        W[p + "ln2.bias"] = n(d, std=0.1)
        W[p + "mlp.in.weight"] = n(F, d, std=0.25)
        W[p + "mlp.in.bias"] = n(F, std=0.2)
        W[p + "mlp.out.weight"] = n(d, F, std=0.15)
        W[p + "mlp.out.bias"] = n(d, std=0.1)
    W["final_norm.weight"] = n(d, std=0.2, mean=1.0)
    W["final_norm.bias"] = n(d, std=0.1)
    return W


def batch_loss(W, tok):
    """Mean NLL over the batch's B x T targets; per-target NLL, logits."""
    nll, logits = [], []
    for seq in tok:
        r = gen_model.forward(W, CFG, seq[:-1])
        tgt = torch.as_tensor(seq[1:].astype(np.int64))
        nll.append(F.cross_entropy(r["logits"], tgt, reduction="none"))
        logits.append(r["logits"])
    nll = torch.stack(nll)
    return nll.sum() / nll.numel(), nll, torch.stack(logits)


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(20261201)
    W0 = init_weights(g)
    names = gen_model.canonical_names(CFG)
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, CFG["vocab_size"], size=(STEPS, B, T + 1),
                          dtype=np.int32)

    gen_model.write_weights(os.path.join(HERE, "train.qft"), CFG, W0,
                            {k: gen_model.F32 for k in names})

    out = {"tokens": tokens, "hp": np.array(HP, dtype=np.float64)}
    # gradients of batch 0 at the initial weights
    P = {k: W0[k].clone().requires_grad_(True) for k in names}
    loss, nll, logits = batch_loss(P, tokens[0])
    loss.backward()
    out["nll"] = nll.detach().numpy().astype(np.float32)
    out["logits"] = logits.detach().numpy().astype(np.float32)
    for k in names:
        out["grad." + k] = P[k].grad.numpy().astype(np.float32)

    # three optimizer steps
    P = {k: W0[k].clone().requires_grad_(True) for k in names}
    decay = [P[k] for k in names if k.endswith(DECAY)]
    rest = [P[k] for k in names if not k.endswith(DECAY)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": HP[4]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=HP[0], betas=(HP[5], HP[6]), eps=HP[7])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    losses, norms = [], []
    for s in range(STEPS):
        opt.zero_grad()
        loss, _, _ = batch_loss(P, tokens[s])
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([P[k] for k in names], HP[8])
        losses.append(loss.item())
        norms.append(norm.item())
        opt.step()
        sched.step()
    out["loss"] = np.array(losses, dtype=np.float64)
    out["norm"] = np.array(norms, dtype=np.float64)
    for k in names:
        out["after." + k] = P[k].detach().numpy().astype(np.float32)
    np.savez_compressed(os.path.join(HERE, "train.npz"), **out)
    print("losses", losses, "norms", norms, "clip", HP[8])


if __name__ == "__main__":
    main()
