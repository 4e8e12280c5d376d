"""Builds tests/fixtures/norms/: a two-block pre-norm residual stack (embedding, two MLP blocks,
final norm, tied head; width 16, seeded) exported by torch.onnx the two ways it writes
`nn.LayerNorm`, for `graph_rewrite.ts`'s skip-layer-norm rewrite:

    opset14.onnx   each norm as ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add
    opset17.onnx   each norm as one LayerNormalization

The norms keep their initial ones and zeros, which torch.onnx stores once and shares through
`Identity` nodes (as in the untrained 124M bench model). Two norms read a residual sum (the
second block's and the final one); the first reads the embedding.

    /usr/bin/python3 tools/train-model/norm_fixtures.py --out tests/fixtures/norms
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch import nn

WIDTH, VOCAB, BLOCKS = 16, 32, 2


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(WIDTH)
        self.c_fc = nn.Linear(WIDTH, 4 * WIDTH)
        self.c_proj = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x):
        return x + self.c_proj(F.gelu(self.c_fc(self.ln(x))))


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(BLOCKS))
        self.ln_f = nn.LayerNorm(WIDTH)

    def forward(self, input_ids):
        x = self.wte(input_ids)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def export(opset, path):
    torch.manual_seed(0)
    model = Stack().eval()
    torch.onnx.export(
        model, (torch.tensor([[1, 2, 3]]),), path,
        input_names=["input_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
        opset_version=opset, do_constant_folding=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for opset in (14, 17):
        export(opset, os.path.join(args.out, f"opset{opset}.onnx"))


if __name__ == "__main__":
    main()
