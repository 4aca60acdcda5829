"""The engine benchmark's peer: the same model and workload as `gr2 bench engine`, in plain
PyTorch eager (Debian's python3-torch, the same libtorch underneath). Prints one JSON line.

Written the way a PyTorch user would write it (nanoGPT / HF Llama style): nn.Linear layers,
F.scaled_dot_product_attention is not in torch 1.13 so attention is matmul + softmax, and the
KV cache is the usual list of tensors grown with torch.cat each step.
"""
import argparse, json, math, os, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.kv, self.hd = a.heads, a.kv_heads, a.d_model // a.heads
        self.q_proj = nn.Linear(a.d_model, self.h * self.hd, bias=False)
        self.k_proj = nn.Linear(a.d_model, self.kv * self.hd, bias=False)
        self.v_proj = nn.Linear(a.d_model, self.kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.h * self.hd, a.d_model, bias=False)

    def forward(self, x, cos, sin, cache=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if cache[0] is not None:
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
            cache[0], cache[1] = k, v
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        S = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        if T > 1:
            mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att.float(), dim=-1).to(q.dtype)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.h * self.hd)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.gate_proj = nn.Linear(a.d_model, a.hidden, bias=False)
        self.up_proj = nn.Linear(a.d_model, a.hidden, bias=False)
        self.down_proj = nn.Linear(a.hidden, a.d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.d_model, 1e-6)
        self.self_attn = Attention(a)
        self.post_attention_layernorm = RMSNorm(a.d_model, 1e-6)
        self.mlp = MLP(a)

    def forward(self, x, cos, sin, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LM(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.d_model)
        self.layers = nn.ModuleList([Block(a) for _ in range(a.layers)])
        self.norm = RMSNorm(a.d_model, 1e-6)
        hd = a.d_model // a.heads
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(4096).float(), inv)
        emb = torch.cat([ang, ang], dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, start=0, caches=None):
        T = ids.shape[1]
        cos, sin = self.cos[start:start + T][None, None], self.sin[start:start + T][None, None]
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i])
        return F.linear(self.norm(x), self.embed_tokens.weight)  # tied embeddings


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--hidden", type=int, default=704)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--answer", type=int, default=0, help="only the last N tokens of each row carry the loss (0 = every position)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--decode-batch", type=int, default=16)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = LM(a)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    params = sum(p.numel() for p in model.parameters())

    def train_step():
        ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            logits = model(ids[:, :-1])
            targets = ids[:, 1:].clone()
            if a.answer > 0:
                targets[:, : a.seq - a.answer] = -100
            loss = F.cross_entropy(logits.float().view(-1, a.vocab), targets.reshape(-1), ignore_index=-100)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(a.warmup):
        train_step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = train_step()
    train_s = time.perf_counter() - t0

    @torch.no_grad()
    def decode():
        prompt = torch.randint(0, a.vocab, (a.decode_batch, a.prompt))
        caches = [[None, None] for _ in model.layers]
        logits = model(prompt, 0, caches)[:, -1]
        out = []
        for i in range(a.new_tokens):
            probs = F.softmax(logits.float() / 1.0, dim=-1)
            tok = torch.multinomial(probs, 1)
            out.append(tok)
            if i == a.new_tokens - 1:
                break
            logits = model(tok, a.prompt + i, caches)[:, -1]
        return torch.cat(out, 1)

    decode()
    t0 = time.perf_counter()
    decode()
    decode_s = time.perf_counter() - t0
    print(json.dumps({
        "impl": "pytorch-eager", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "params": params, "dtype": a.dtype, "answer_tokens": a.answer, "loss": round(loss, 4),
        "train_tokens_per_s": round(a.steps * a.batch * a.seq / train_s, 1),
        "decode_tokens_per_s": round(a.decode_batch * a.new_tokens / decode_s, 1),
    }))


if __name__ == "__main__":
    main()
