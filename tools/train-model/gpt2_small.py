"""A model with GPT-2 small's shapes (12 layers, width 768, 12 heads, 1024 positions, vocabulary
50257; 124,439,808 parameters) and seeded random weights, exported as the embedded model is
(optimum's decoder with past, fp32), for `deno task bench`: a model where the kernels dominate a
decode step, not the per-operator dispatch. Its text is noise (the embedded model's tokenizer
names only the first 4096 ids); its cost is GPT-2 small's. `deno task bench` builds it on demand
into its cache; by hand:

    /usr/bin/python3 tools/train-model/gpt2_small.py --out /tmp/gpt2-small
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import types

import torch

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import GPT2  # noqa: E402
import train  # noqa: E402

GPT2_SMALL = {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12,
              "n_head": 12}
EMBEDDED = os.path.join(HERE, "../../data/models/brown-gpt2")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write (replaced when complete)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    a = p.parse_args(argv)
    out = os.path.abspath(a.out)
    torch.manual_seed(a.seed)
    model = GPT2(**GPT2_SMALL, dropout=0.0).eval()
    print(f"parameters: {sum(t.numel() for t in model.parameters())}", flush=True)
    args = types.SimpleNamespace(**GPT2_SMALL, dropout=0.0)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    staging = tempfile.mkdtemp(prefix="gpt2-small-", dir=os.path.dirname(out))
    try:
        os.makedirs(os.path.join(staging, "onnx"))
        with torch.no_grad():
            train.export_onnx(model, args, os.path.join(staging, "onnx/model.onnx"))
        for name in ("generation_config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(EMBEDDED, name), os.path.join(staging, name))
        with open(os.path.join(EMBEDDED, "config.json")) as f:
            config = json.load(f)
        config.update({**GPT2_SMALL, "n_ctx": GPT2_SMALL["n_positions"],
                       "_name_or_path": "gpt2-small-random"})
        for key in ("attn_pdrop", "embd_pdrop", "resid_pdrop"):
            config[key] = 0.0
        with open(os.path.join(staging, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = os.path.getsize(os.path.join(out, "onnx/model.onnx"))
    print(f"wrote {out}: onnx/model.onnx {size} bytes", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
