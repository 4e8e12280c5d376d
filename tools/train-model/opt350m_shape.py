"""A stand-in with facebook/opt-350m's exact shapes (24 layers, hidden 1024, FFN 4096, 16 heads,
word embeddings 512 wide, vocabulary 50272, 2048 positions; 331,196,416 parameters) and random
weights, exported as the Hub fixtures are (fp32, q8, fp16), so the README's download size,
memory and decode speed for the handout's model are measured here, where the Hub is not
reachable. Its text is noise; its cost is OPT-350m's.

    /usr/bin/python3 tools/train-model/opt350m_shape.py --out /tmp/opt-350m-shape
    deno task question3 --model /tmp/opt-350m-shape --backend wasm --dtype q8 --verbose
"""

import argparse
import copy
import os
import shutil
import sys
import tempfile

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hub_fixtures  # noqa: E402
import onnx_variants  # noqa: E402
from hub_models import Opt  # noqa: E402

OPT_350M = {**hub_fixtures.OPT_CONFIG, "ffn_dim": 4096, "hidden_size": 1024,
            "max_position_embeddings": 2048, "num_attention_heads": 16, "num_hidden_layers": 24,
            "vocab_size": 50272, "word_embed_proj_dim": 512}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True)
    out = os.path.abspath(p.parse_args(argv).out)
    torch.manual_seed(0)
    model = Opt(OPT_350M).eval()
    print(f"parameters: {sum(t.numel() for t in model.parameters())}", flush=True)
    fixture = os.path.join(hub_fixtures.REPO, "tests/fixtures/hub/models/opt")
    staging = tempfile.mkdtemp(prefix="opt350m-", dir=os.path.dirname(out))
    try:
        os.makedirs(os.path.join(staging, "onnx"))
        with torch.no_grad():
            graph = hub_fixtures.export(model, OPT_350M, os.path.join(staging, "onnx/model.onnx"),
                                        False, True)
        onnx_variants.save(onnx_variants.quantize_q8(graph),
                           os.path.join(staging, "onnx/model_quantized.onnx"))
        onnx_variants.save(onnx_variants.to_fp16(graph),
                           os.path.join(staging, "onnx/model_fp16.onnx"))
        hub_fixtures.write_json(staging, "config.json", copy.deepcopy(OPT_350M))
        for name in ("generation_config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(fixture, name), os.path.join(staging, name))
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for name in sorted(os.listdir(os.path.join(out, "onnx"))):
        print(f"onnx/{name}: {os.path.getsize(os.path.join(out, 'onnx', name))} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
