"""OPT and Llama decoders in PyTorch, written from Hugging Face's OPTForCausalLM and
LlamaForCausalLM, for the small Hub fixtures (tests/fixtures/hub/).

Each model takes `input_ids` [batch, seq], `attention_mask` [batch, past+seq] and a list of
(key, value) caches [batch, kv_heads, past, head_dim], and returns logits [batch, seq, vocab]
with the grown caches. OPT derives its positions from the attention mask (no `position_ids`
input, as optimum exports it); Llama takes `position_ids`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def causal_mask(attention_mask, seq, past_len):
    """[batch, 1, seq, past+seq], True where a query may attend a key."""
    b = attention_mask.shape[0]
    key_pos = torch.arange(past_len + seq)
    query_pos = torch.arange(seq) + past_len
    allowed = (key_pos.unsqueeze(0) <= query_pos.unsqueeze(1)).view(1, 1, seq, past_len + seq)
    return allowed & (attention_mask.view(b, 1, 1, -1) > 0)


def attend(q, k, v, allowed):
    """Scaled dot-product attention; q [b, h, s, d], k/v [b, h, t, d]."""
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return F.softmax(scores, dim=-1) @ v


class OptAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.head_dim = heads, d // heads
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, allowed, past):
        b, s, d = x.shape
        split = lambda t: t.view(b, s, self.heads, self.head_dim).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        y = attend(q, k, v, allowed).transpose(1, 2).reshape(b, s, d)  # [b, s, d]
        return self.out_proj(y), (k, v)


class OptLayer(nn.Module):
    """OPT-350m's layer: post-LayerNorm (do_layer_norm_before = False), ReLU MLP."""

    def __init__(self, d, heads, ffn):
        super().__init__()
        self.self_attn = OptAttention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x, allowed, past):
        a, present = self.self_attn(x, allowed, past)
        x = self.self_attn_layer_norm(x + a)
        x = self.final_layer_norm(x + self.fc2(F.relu(self.fc1(x))))
        return x, present


class Opt(nn.Module):
    """OPT with a word-embedding width below the hidden size (project_in / project_out), learned
    positions offset by 2, and the LM head tied to the token table, as facebook/opt-350m."""

    OFFSET = 2

    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["word_embed_proj_dim"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], p)
        self.embed_positions = nn.Embedding(c["max_position_embeddings"] + self.OFFSET, d)
        self.project_in = nn.Linear(p, d, bias=False)
        self.project_out = nn.Linear(d, p, bias=False)
        self.layers = nn.ModuleList(
            OptLayer(d, c["num_attention_heads"], c["ffn_dim"])
            for _ in range(c["num_hidden_layers"]))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=c["init_std"])
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, input_ids, attention_mask, past=None):
        s = input_ids.shape[1]
        past_len = past[0][0].shape[2] if past is not None else 0
        # OPTLearnedPositionalEmbedding: positions count the attended tokens before each one.
        positions = (torch.cumsum(attention_mask, dim=1) * attention_mask - 1)[:, past_len:]
        x = self.project_in(self.embed_tokens(input_ids))
        x = x + self.embed_positions(positions + self.OFFSET)
        allowed = causal_mask(attention_mask, s, past_len)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, allowed, past[i] if past is not None else None)
            presents.append(present)
        logits = self.project_out(x) @ self.embed_tokens.weight.t()
        return logits, presents


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.heads, self.kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = d // self.heads
        self.theta = c["rope_theta"]
        self.q_proj = nn.Linear(d, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, d, bias=False)

    def rope(self, t, position_ids):
        inv = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        angles = position_ids.unsqueeze(-1).float() * inv  # [b, s, head_dim / 2]
        emb = torch.cat([angles, angles], dim=-1).unsqueeze(1)  # [b, 1, s, head_dim]
        return t * emb.cos() + rotate_half(t) * emb.sin()

    def repeat_kv(self, t):
        """Grouped-query attention: [b, kv_heads, t, d] -> [b, heads, t, d]."""
        b, kv, n, d = t.shape
        group = self.heads // kv
        return t[:, :, None].expand(b, kv, group, n, d).reshape(b, kv * group, n, d)

    def forward(self, x, allowed, position_ids, past):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rope(q, position_ids), self.rope(k, position_ids)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        y = attend(q, self.repeat_kv(k), self.repeat_kv(v), allowed)
        return self.o_proj(y.transpose(1, 2).reshape(b, s, -1)), (k, v)


class RmsNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class LlamaLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f, eps = c["hidden_size"], c["intermediate_size"], c["rms_norm_eps"]
        self.input_layernorm, self.post_attention_layernorm = RmsNorm(d, eps), RmsNorm(d, eps)
        self.self_attn = LlamaAttention(c)
        self.gate_proj, self.up_proj = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x, allowed, position_ids, past):
        a, present = self.self_attn(self.input_layernorm(x), allowed, position_ids, past)
        x = x + a
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h)), present


class Llama(nn.Module):
    """Llama / SmolLM2: RMSNorm, RoPE, SwiGLU, grouped-query attention, tied LM head."""

    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(LlamaLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RmsNorm(c["hidden_size"], c["rms_norm_eps"])
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=c["initializer_range"])

    def forward(self, input_ids, attention_mask, position_ids, past=None):
        s = input_ids.shape[1]
        past_len = past[0][0].shape[2] if past is not None else 0
        x = self.embed_tokens(input_ids)
        allowed = causal_mask(attention_mask, s, past_len)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, allowed, position_ids, past[i] if past is not None else None)
            presents.append(present)
        return self.norm(x) @ self.embed_tokens.weight.t(), presents
