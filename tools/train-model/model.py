"""GPT-2 (Radford et al. 2019) in PyTorch, shaped like Hugging Face's GPT2LMHeadModel.

Learned positions, pre-LayerNorm blocks, GELU with the tanh approximation ("gelu_new"), tied
input/output embeddings, and a key/value cache with an attention mask over past + new keys,
so the same forward pass serves training and the ONNX decoder-with-past export.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def gelu_new(x):
    """GELU, tanh approximation, written out as Hugging Face's NewGELUActivation."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Attention(nn.Module):
    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, allowed, past_key=None, past_value=None):
        """`allowed` [batch, 1, seq, past+seq] is True where a query may attend a key."""
        b, s, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (t.view(b, s, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if past_key is not None:
            k = torch.cat([past_key, k], dim=2)
            v = torch.cat([past_value, v], dim=2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        # The dtype's minimum, not -inf: a fully masked row (a padding query) stays finite.
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        y = self.drop(F.softmax(scores, dim=-1)) @ v
        y = y.transpose(1, 2).reshape(b, s, d)
        return self.drop(self.c_proj(y)), k, v


class Block(nn.Module):
    def __init__(self, n_embd, n_head, dropout, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=eps)
        self.attn = Attention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd, eps=eps)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, allowed, past_key=None, past_value=None):
        a, k, v = self.attn(self.ln_1(x), allowed, past_key, past_value)
        x = x + a
        x = x + self.drop(self.c_proj(gelu_new(self.c_fc(self.ln_2(x)))))
        return x, k, v


class GPT2(nn.Module):
    def __init__(self, vocab_size, n_positions, n_embd, n_layer, n_head, dropout=0.1,
                 eps=1e-5):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd {n_embd} is not divisible by n_head {n_head}")
        self.n_positions = n_positions
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(n_positions, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(n_embd, n_head, dropout, eps) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=eps)
        self.apply(self._init)
        # GPT-2's scaled init of residual projections.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def forward(self, input_ids, attention_mask=None, position_ids=None, past=None):
        """Logits [batch, seq, vocab] and the present (key, value) per layer.

        `attention_mask` [batch, past+seq] (1 = attend) defaults to all ones; `position_ids`
        default to past..past+seq-1; `past` is a list of (key, value) [batch, heads, past, dim].
        """
        b, s = input_ids.shape
        past_len = past[0][0].shape[2] if past is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + s).unsqueeze(0).expand(b, s)
        key_pos = torch.arange(past_len + s, device=input_ids.device)
        query_pos = torch.arange(s, device=input_ids.device) + past_len
        allowed = (key_pos.unsqueeze(0) <= query_pos.unsqueeze(1)).view(1, 1, s, past_len + s)
        if attention_mask is not None:
            allowed = allowed & (attention_mask.view(b, 1, 1, -1) > 0)
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))
        presents = []
        for i, block in enumerate(self.h):
            pk, pv = past[i] if past is not None else (None, None)
            x, k, v = block(x, allowed, pk, pv)
            presents.append((k, v))
        logits = self.ln_f(x) @ self.wte.weight.t()
        return logits, presents
