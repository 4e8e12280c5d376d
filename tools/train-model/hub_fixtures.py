"""Builds the small Hub fixtures of tests/fixtures/hub/: an OPT-style model (shaped like
facebook/opt-350m: post-LayerNorm, word embeddings narrower than the hidden size, positions from
the attention mask, BOS `</s>` prepended by its tokenizer) and a Llama-style one (shaped like
SmolLM2-Instruct: RMSNorm, RoPE, SwiGLU, grouped-query attention, a ChatML chat template),
each trained briefly on the Brown corpus and exported with optimum's input and output names in
every dtype and layout the replica Hub serves:

    models/opt/onnx/{model,model_fp16,model_quantized}.onnx
    models/opt/onnx/{decoder_model_merged,decoder_model_merged_quantized}.onnx   (legacy)
    models/llama/onnx/model.onnx + model.onnx_data    (external data, num_logits_to_keep input)
    models/llama/onnx/{model_fp16,model_quantized}.onnx

plus `reference.json`: PyTorch's greedy tokens and last-position logits for a prompt (and, for
the Llama, the ChatML-templated prompt), which tests/hub_models_test.ts checks every variant
against. Seeded; tokenizers are the embedded model's BPE with each family's special tokens.

    /usr/bin/python3 tools/train-model/hub_fixtures.py --out tests/fixtures/hub/models
"""

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
import onnx_variants  # noqa: E402
from hub_models import Llama, Opt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROMPT = "What is Apple?"
CHAT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# SmolLM2-Instruct's ChatML template.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\n" + CHAT_SYSTEM + "<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
NEW_TOKENS = 16

OPT_CONFIG = {
    "_name_or_path": "facebook/opt-350m", "_remove_final_layer_norm": False,
    "activation_dropout": 0.0, "activation_function": "relu", "architectures": ["OPTForCausalLM"],
    "attention_dropout": 0.0, "bos_token_id": 2, "do_layer_norm_before": False, "dropout": 0.1,
    "enable_bias": True, "eos_token_id": 2, "ffn_dim": 256, "hidden_size": 64, "init_std": 0.02,
    "layer_norm_elementwise_affine": True, "layerdrop": 0.0, "max_position_embeddings": 128,
    "model_type": "opt", "num_attention_heads": 4, "num_hidden_layers": 2, "pad_token_id": 1,
    "prefix": "</s>", "torch_dtype": "float32", "use_cache": True, "vocab_size": 4104,
    "word_embed_proj_dim": 32,
}
LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 1, "eos_token_id": 2, "head_dim": 8, "hidden_act": "silu", "hidden_size": 32,
    "initializer_range": 0.02, "intermediate_size": 96, "max_position_embeddings": 256,
    "mlp_bias": False, "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "pad_token_id": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-5,
    "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": True,
    "torch_dtype": "float32", "use_cache": True, "vocab_size": 4098,
}


def log(*args):
    print("[hub_fixtures]", *args, flush=True)


class Family:
    """A model family's tokenizer: the embedded BPE with special tokens in front of it."""

    def __init__(self, base, specials, bos_prepended):
        self.base, self.specials, self.bos_prepended = base, specials, bos_prepended
        self.offset = len(specials)

    def encode(self, text):
        """As HF encodes it: specials matched literally, BOS first when the tokenizer adds it."""
        ids, rest = [], text
        while rest:
            hits = [(rest.find(s), s) for s in self.specials if rest.find(s) >= 0]
            if not hits:
                ids += [i + self.offset for i in self.base.encode(rest)]
                break
            at, special = min(hits)
            ids += [i + self.offset for i in self.base.encode(rest[:at])]
            ids.append(self.specials.index(special))
            rest = rest[at + len(special):]
        return ([self.specials.index(self.bos_prepended)] if self.bos_prepended else []) + ids

    def added_tokens_decoder(self, normalized):
        """tokenizer_config.json's `added_tokens_decoder`: each special token by id."""
        return {str(i): {"content": s, "lstrip": False, "normalized": normalized, "rstrip": False,
                         "single_word": False, "special": True}
                for i, s in enumerate(self.specials)}

    def tokenizer_json(self):
        base = self.base.tokenizer_json()
        vocab = {s: i for i, s in enumerate(self.specials)}
        for token, i in base["model"]["vocab"].items():
            if token != bpe.END_OF_TEXT:
                vocab[token] = i + self.offset
        base["model"]["vocab"] = vocab
        base["added_tokens"] = [{
            "id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True} for i, s in enumerate(self.specials)]
        if self.bos_prepended:
            # What transformers' GPT2 converter writes when add_bos_token is set (OPT).
            bos = self.bos_prepended
            base["post_processor"] = {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": bos, "type_id": 1}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos: {"id": bos, "ids": [self.specials.index(bos)],
                                         "tokens": [bos]}},
            }
        return base


def stream(family, docs, separator, limit):
    ids = [separator]
    for _, _, text in docs:
        ids += [i + family.offset for i in family.base.encode(text)] + [separator]
        if len(ids) >= limit:
            break
    return torch.tensor(ids[:limit])


def train(model, ids, forward, steps, seed):
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    seq, batch = 64, 16
    model.train()
    for step in range(steps):
        starts = torch.randint(0, len(ids) - seq - 1, (batch,))
        x = torch.stack([ids[s:s + seq] for s in starts])
        y = torch.stack([ids[s + 1:s + seq + 1] for s in starts])
        logits = forward(model, x, torch.ones_like(x), None)[0]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"  step {step}: loss {loss.item():.3f}")
    model.eval()


def opt_forward(model, ids, mask, past):
    return model(ids, mask, past)


def llama_forward(model, ids, mask, past):
    past_len = past[0][0].shape[2] if past else 0
    positions = torch.arange(past_len, past_len + ids.shape[1]).unsqueeze(0).expand_as(ids)
    return model(ids, mask, positions, past)


class Wrapper(torch.nn.Module):
    """Flat arguments in optimum's order: input_ids, attention_mask, [position_ids], past..."""

    def __init__(self, model, layers, positions, with_past):
        super().__init__()
        self.model, self.layers = model, layers
        self.positions, self.with_past = positions, with_past

    def forward(self, input_ids, attention_mask, *rest):
        position_ids, rest = (rest[0], rest[1:]) if self.positions else (None, rest)
        past = [(rest[2 * i], rest[2 * i + 1]) for i in range(self.layers)] if self.with_past \
            else None
        args = (input_ids, attention_mask) + ((position_ids,) if self.positions else ()) + (past,)
        logits, presents = self.model(*args)
        return (logits, *[t for kv in presents for t in kv])


def export(model, config, path, positions, with_past):
    layers = config["num_hidden_layers"]
    kv = config.get("num_key_value_heads", config["num_attention_heads"])
    head_dim = config.get("head_dim", config["hidden_size"] // config["num_attention_heads"])
    batch, seq, past = 2, 3, 4 if with_past else 0
    total = past + seq
    args = [torch.randint(0, config["vocab_size"], (batch, seq)),
            torch.ones(batch, total, dtype=torch.int64)]
    names = ["input_ids", "attention_mask"]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "past_sequence_length + 1"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    if positions:
        args.append(torch.arange(past, total).unsqueeze(0).expand(batch, seq).contiguous())
        names.append("position_ids")
        axes["position_ids"] = {0: "batch_size", 1: "sequence_length"}
    past_names = [f"past_key_values.{i}.{k}" for i in range(layers) for k in ("key", "value")]
    present_names = [f"present.{i}.{k}" for i in range(layers) for k in ("key", "value")]
    if with_past:
        args += [torch.randn(batch, kv, past, head_dim) for _ in past_names]
        names += past_names
        for name in past_names:
            axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in present_names:
        axes[name] = {0: "batch_size", 2: "past_sequence_length + 1"}
    torch.onnx.export(Wrapper(model, layers, positions, with_past), tuple(args), path,
                      input_names=names, output_names=["logits", *present_names],
                      dynamic_axes=axes, opset_version=14,
                      # Unfolded, a tied LM head shares the token table instead of a copy.
                      do_constant_folding=False)
    return onnx.load(path)


@torch.no_grad()
def greedy(model, forward, prompt):
    ids = torch.tensor([prompt])
    logits, past = forward(model, ids, torch.ones_like(ids), None)
    first = [round(x, 5) for x in logits[0, -1].tolist()]
    tokens, total = [], len(prompt)
    for _ in range(NEW_TOKENS):
        token = int(logits[0, -1].argmax())
        tokens.append(token)
        total += 1
        logits, past = forward(model, torch.tensor([[token]]),
                               torch.ones(1, total, dtype=torch.int64), past)
    return {"promptIds": prompt, "greedy": tokens, "prefillLogits": first}


def write_json(folder, name, obj):
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def trained(name, make, forward, family, separator, docs, steps, seed, folder):
    """A seeded model briefly trained on the corpus, and the folder's (new) onnx/ directory."""
    torch.manual_seed(seed)
    model = make()
    log(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")
    train(model, stream(family, docs, separator, 200_000), forward, steps, seed)
    onnx_dir = os.path.join(folder, "onnx")
    os.makedirs(onnx_dir)
    return model, onnx_dir


def build_opt(base, docs, folder, work, steps):
    family = Family(base, ["<s>", "<pad>", "</s>", "<unk>"], "</s>")
    model, onnx_dir = trained("opt", lambda: Opt(OPT_CONFIG), opt_forward, family, 2, docs, steps,
                              1, folder)
    with_past = export(model, OPT_CONFIG, os.path.join(work, "opt_past.onnx"), False, True)
    no_past = export(model, OPT_CONFIG, os.path.join(work, "opt_nopast.onnx"), False, False)
    for name, graph in (("model", with_past), ("model_fp16", onnx_variants.to_fp16(with_past)),
                        ("model_quantized", onnx_variants.quantize_q8(with_past)),
                        ("decoder_model_merged", onnx_variants.merge(no_past, with_past)),
                        ("decoder_model_merged_quantized", onnx_variants.merge(
                            onnx_variants.quantize_q8(no_past),
                            onnx_variants.quantize_q8(with_past)))):
        onnx_variants.save(graph, os.path.join(onnx_dir, f"{name}.onnx"))
    write_json(folder, "config.json", OPT_CONFIG)
    write_json(folder, "generation_config.json",
               {"bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1})
    write_json(folder, "tokenizer_config.json", {
        "add_bos_token": True, "add_prefix_space": False,
        "added_tokens_decoder": family.added_tokens_decoder(normalized=True),
        "bos_token": "</s>", "clean_up_tokenization_spaces": False, "eos_token": "</s>",
        "errors": "replace", "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<pad>", "tokenizer_class": "GPT2Tokenizer", "unk_token": "</s>"})
    write_json(folder, "special_tokens_map.json", {
        "bos_token": "</s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "</s>"})
    write_json(folder, "tokenizer.json", family.tokenizer_json())
    write_json(folder, "reference.json", {"prompt": PROMPT, **greedy(
        model, opt_forward, family.encode(PROMPT))})


def build_llama(base, docs, folder, work, steps):
    family = Family(base, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None)
    model, onnx_dir = trained("llama", lambda: Llama(LLAMA_CONFIG), llama_forward, family, 0,
                              docs, steps, 2, folder)
    with_past = export(model, LLAMA_CONFIG, os.path.join(work, "llama_past.onnx"), True, True)
    # onnx-community style: external data and a num_logits_to_keep input.
    onnx_variants.save(onnx_variants.keep_last_logits(with_past),
                       os.path.join(onnx_dir, "model.onnx"), external=True)
    onnx_variants.save(onnx_variants.to_fp16(with_past), os.path.join(onnx_dir, "model_fp16.onnx"))
    onnx_variants.save(onnx_variants.quantize_q8(with_past),
                       os.path.join(onnx_dir, "model_quantized.onnx"))
    config = copy.deepcopy(LLAMA_CONFIG)
    config["transformers.js_config"] = {"use_external_data_format": {"model.onnx": True}}
    write_json(folder, "config.json", config)
    write_json(folder, "generation_config.json",
               {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2})
    write_json(folder, "tokenizer_config.json", {
        "add_prefix_space": False,
        "added_tokens_decoder": family.added_tokens_decoder(normalized=False),
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|im_start|>", "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
        "model_max_length": 8192, "pad_token": "<|im_end|>", "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>", "vocab_size": LLAMA_CONFIG["vocab_size"]})
    write_json(folder, "tokenizer.json", family.tokenizer_json())
    # The template rendered by hand (no jinja here): one user turn and the generation prompt.
    chat = (f"<|im_start|>system\n{CHAT_SYSTEM}<|im_end|>\n<|im_start|>user\n{PROMPT}"
            "<|im_end|>\n<|im_start|>assistant\n")
    write_json(folder, "reference.json", {
        "prompt": PROMPT, **greedy(model, llama_forward, family.encode(PROMPT)),
        "chat": {"text": chat, **greedy(model, llama_forward, family.encode(chat))}})


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True, help="folder to (re)create: models/opt, models/llama")
    p.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "brown-gpt2"))
    p.add_argument("--steps", type=int, default=1200)
    args = p.parse_args(argv)
    if args.steps <= 0:
        p.error(f"--steps must be positive; got {args.steps}")
    torch.set_num_threads(2)
    with open(os.path.join(REPO, "data/models/brown-gpt2/tokenizer.json"), encoding="utf-8") as f:
        merges = [m.split(" ") for m in json.load(f)["model"]["merges"]]
    base = bpe.ByteLevelBPE(merges)
    train_docs, _ = corpus.split(corpus.fetch(args.cache))
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    staging = tempfile.mkdtemp(prefix="hub-fixtures-", dir=os.path.dirname(out))
    work = tempfile.mkdtemp(prefix="hub-fixtures-work-")
    try:
        for name, build in (("opt", build_opt), ("llama", build_llama)):
            folder = os.path.join(staging, name)
            os.makedirs(folder)
            build(base, train_docs, folder, work, args.steps)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    for root, _, files in sorted(os.walk(out)):
        for name in sorted(files):
            path = os.path.join(root, name)
            log(f"{os.path.relpath(path, out)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
