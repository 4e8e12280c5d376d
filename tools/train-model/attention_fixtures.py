"""Builds tests/fixtures/attention/: two one-layer decoders-with-past exported the way
`model.py`'s GPT-2 attention exports (torch.onnx, opset 14), seeded random weights, width 32:

    mha.onnx   4 query heads, 4 key/value heads (the form `graph_rewrite.ts` fuses)
    mqa.onnx   4 query heads, 1 key/value head broadcast by MatMul (multi-query attention):
               the same node pattern, which MultiHeadAttention cannot run, so it must be left alone

    /usr/bin/python3 tools/train-model/attention_fixtures.py --out tests/fixtures/attention
"""

import argparse
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

WIDTH, HEADS, HEAD_DIM, VOCAB = 32, 4, 8, 64


class Decoder(nn.Module):
    def __init__(self, kv_heads):
        super().__init__()
        self.kv_heads = kv_heads
        self.wte = nn.Embedding(VOCAB, WIDTH)
        self.c_attn = nn.Linear(WIDTH, WIDTH + 2 * kv_heads * HEAD_DIM)
        self.c_proj = nn.Linear(WIDTH, WIDTH)

    def forward(self, input_ids, attention_mask, past_key, past_value):
        b, s = input_ids.shape
        x = self.wte(input_ids)
        kv = self.kv_heads * HEAD_DIM
        q, k, v = self.c_attn(x).split([WIDTH, kv, kv], dim=2)
        q = q.view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        k = k.view(b, s, self.kv_heads, HEAD_DIM).transpose(1, 2)
        v = v.view(b, s, self.kv_heads, HEAD_DIM).transpose(1, 2)
        total = past_key.shape[2] + s
        k = torch.cat([past_key, k], dim=2)
        v = torch.cat([past_value, v], dim=2)
        query_pos = torch.arange(total - s, total).view(s, 1)
        key_pos = torch.arange(total).view(1, total)
        allowed = (key_pos <= query_pos).view(1, 1, s, total) & (attention_mask.view(b, 1, 1, -1) > 0)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(HEAD_DIM)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        y = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, s, WIDTH)
        return self.c_proj(y) @ self.wte.weight.T, k, v


def export(kv_heads, path):
    torch.manual_seed(kv_heads)
    model = Decoder(kv_heads).eval()
    ids = torch.tensor([[1, 2, 3]])
    past = torch.zeros(1, kv_heads, 2, HEAD_DIM)
    torch.onnx.export(
        model, (ids, torch.ones(1, 5, dtype=torch.int64), past, past), path,
        input_names=["input_ids", "attention_mask", "past_key_values.0.key",
                     "past_key_values.0.value"],
        output_names=["logits", "present.0.key", "present.0.value"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                      "attention_mask": {0: "batch", 1: "total"},
                      "past_key_values.0.key": {0: "batch", 2: "past"},
                      "past_key_values.0.value": {0: "batch", 2: "past"},
                      "logits": {0: "batch", 1: "seq"},
                      "present.0.key": {0: "batch", 2: "total"},
                      "present.0.value": {0: "batch", 2: "total"}},
        opset_version=14, do_constant_folding=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    export(HEADS, os.path.join(args.out, "mha.onnx"))
    export(1, os.path.join(args.out, "mqa.onnx"))


if __name__ == "__main__":
    main()
