"""The model card (README.md of the model folder), rendered from the training record."""

import math


def _f(x, digits=3):
    return f"{x:.{digits}f}"


def render(r):
    a = r["args"]
    c = r["corpus"]
    t = r["training"]
    checks = r["onnx"]["checks"]
    head_dim = a["n_embd"] // a["n_head"]
    rows = "\n".join(
        f"| {x['backend']} | {x['prefill']:.2e} | {x['cached']:.2e} | {x['leftPadding']:.2e} |"
        for x in checks["results"]
    )
    history = "\n".join(
        f"| {h['step']} | {'n/a' if h['train_loss'] is None else format(h['train_loss'], '.3f')} "
        f"| {h['valid_loss']:.3f} | "
        f"{math.exp(h['valid_loss']):.1f} | {h['minutes']:.1f} |"
        for h in t["history"]
    )
    samples = "\n\n".join(
        f"*{s['mode']}*, prompt `{s['prompt']}`:\n\n> " + s["text"].replace("\n", "\n> ")
        for s in r["samples"]
    )
    early = (
        f"\n**Training stopped early**, at step {t['steps']} of the {a['steps']} its "
        f"learning-rate schedule was planned for (time limit or `--stop-after`).\n"
        if t["stopped_early"] else ""
    )
    init = r.get("init")
    total_tokens = t["tokens_seen"] + (init["tokens"] if init else 0)
    phases = (
        f"""Training ran in phases. The earlier ones, the first from random weights and each
next from the best checkpoint of the one before:

```sh
{init['command']}
```

A phase stopped part-way through its schedule was stopped by hand here, to fit the time
available on the shared machine; `--stop-after` reproduces it. Together they saw
{init['tokens']:,} tokens. The last phase (the command above) continued from their best
checkpoint with a fresh optimizer, a new schedule and another seed for batch sampling. Tokens
seen in total: **{total_tokens:,}** ({total_tokens / c['train_tokens']:.1f} passes over the
training tokens).

"""
        if init else ""
    )
    gpu = checks.get("adapter") or "none"
    weak = (
        "\n**Provisional export: this model does not beat the bigram baseline.** It exists so "
        "that the runtime can be built against the final file layout while the real training "
        "runs.\n"
        if t["valid_loss"] >= r["bigram"]["valid_loss"] else ""
    )
    return f"""# brown-gpt2

A small GPT-2-architecture causal language model trained by this workspace on the Brown
corpus, so that Question 3 runs offline on a real transformer. It is laid out exactly like a
Hugging Face ONNX export of GPT-2 (optimum's decoder with past), so the code that runs it also
runs GPT-2 / OPT / SmolLM exports downloaded elsewhere.
{weak}
Reproduce (CPU, 2 shared cores: {t['minutes']:.0f} minutes of training{' in the last phase' if init else ''},
a few more for the tokenizer, evaluation, export and checks{'; the earlier phases are listed under Training' if init else ''}):

```sh
{r['command']}
```

## Files

| file | content |
| --- | --- |
| `config.json` | `model_type` gpt2, {a['n_layer']} layers, {a['n_head']} heads, d = {a['n_embd']}, context {a['n_positions']}, vocab {a['vocab_size']} |
| `generation_config.json` | bos/eos token ids |
| `tokenizer.json`, `tokenizer_config.json` | byte-level BPE (GPT-2 pre-tokenizer regex, no prefix space) |
| `onnx/model.onnx` | fp32, opset {r['onnx']['opset']}, {r['onnx']['bytes'] / 2**20:.1f} MiB, single file |
| `training.json` | everything below, machine-readable |

ONNX signature (names and dynamic axes as optimum writes them):

- inputs: `input_ids` int64 [batch_size, sequence_length], `attention_mask` int64
  [batch_size, past_sequence_length + sequence_length], `position_ids` int64
  [batch_size, sequence_length], `past_key_values.{{i}}.key` / `.value` float32
  [batch_size, {a['n_head']}, past_sequence_length, {head_dim}] for i = 0..{a['n_layer'] - 1}
  (past length 0 is allowed: pass empty tensors for the first call);
- outputs: `logits` float32 [batch_size, sequence_length, {a['vocab_size']}], `present.{{i}}.key` /
  `.value` [batch_size, {a['n_head']}, past_sequence_length + sequence_length, {head_dim}].

`attention_mask` really masks: keys whose mask is 0 are excluded (combined with the causal
mask), so left-padded batches work; a padded query row's own logits are meaningless.

## Model

GPT-2 architecture: learned position embeddings, pre-LayerNorm blocks,
GELU with the tanh approximation (`gelu_new`), MLP width 4d, biases as in GPT-2, tied
input/output embeddings (the ONNX file stores the output projection as its own transposed
copy, as optimum's GPT-2 exports do). **{r['parameters']:,} parameters.** Dropout {a['dropout']} during training.

## Tokenizer

Byte-level BPE trained by `tools/train-model/bpe.py` on the training part only:
{a['vocab_size']} tokens = 256 byte tokens + {a['vocab_size'] - 257} merges + `<|endoftext|>`
(id {a['vocab_size'] - 1}; bos, eos and unk, as in GPT-2). Any UTF-8 text round-trips exactly.
Checked with `@huggingface/tokenizers` (the npm package) on {r['tokenizer_cases']} texts
(including emoji, CJK, tabs/CRLF and the whole validation part): its ids equal the trainer's
own encoder's ids and `decode` returns the input.

## Data

The Brown corpus (Francis & Kučera, 1964/1979) from npm `{c['package']}` (tarball sha512
`{c['sha512'][:32]}…`), tags stripped and detokenized (quotes `` `` `` / `''` to `"`, no
space before closing punctuation). Brown's tokenization puts sentence punctuation after a
closing quote, so the text (and the model) write `"...".` where edited American English has
`...."`. Documents are separated by `<|endoftext|>`.

- training: {c['train_files']} files, {c['train_words']:,} words, {c['train_tokens']:,} tokens;
- validation (never seen by the tokenizer or the model): the last file of each of the 15
  genres ({', '.join(c['valid_file_ids'])}), {c['valid_words']:,} words, {c['valid_tokens']:,} tokens.

## Training

{phases}AdamW (betas 0.9/0.95, weight decay {a['weight_decay']} on matrices), peak learning rate
{a['lr']}, {a['warmup']} warm-up steps then cosine decay to 10 %, batch {a['batch_size']} ×
{a['n_positions']} tokens, gradient clipping 1.0, seed {a['seed']}, PyTorch {r['torch_version']} on
{a['threads']} CPU threads. {t['steps']} steps = **{t['tokens_seen']:,} tokens seen**
({t['tokens_seen'] / c['train_tokens']:.1f} passes over the training tokens) in
**{t['minutes']:.1f} minutes** of training{' (this phase)' if init else ''}. The exported weights are the checkpoint with the
lowest validation loss (step {t['best_step']}).
{early}
Validation during training (non-overlapping {a['n_positions']}-token windows, so a little
worse than the final figures below):

| step | train loss | valid loss | valid ppl | minutes |
| --- | --- | --- | --- | --- |
{history}

## Evaluation (validation part, per token, natural log)

Every validation token but the first is predicted once; the transformer sees up to
{a['n_positions']} tokens of context (sliding windows, stride {a['n_positions'] // 2}). The
baselines use the same tokenizer and the same training tokens.

| model | loss (nats/token) | perplexity |
| --- | --- | --- |
| unigram, add-one smoothing | {_f(r['unigram']['valid_loss'])} | {r['unigram']['valid_perplexity']:.1f} |
| bigram, interpolated Kneser-Ney (D = 0.75, add-one continuation) | {_f(r['bigram']['valid_loss'])} | {r['bigram']['valid_perplexity']:.1f} |
| **brown-gpt2** | **{_f(t['valid_loss'])}** | **{r['valid_perplexity']:.1f}** |

## Export check

`tools/train-model/check_onnx.ts` runs `onnx/model.onnx` with onnxruntime-web in Deno and
compares with PyTorch's logits on a left-padded batch of 2 × 8 validation tokens (maximum
absolute logit difference over unpadded positions): `prefill` = one call with past length 0;
`cached` = the same tokens fed as 5 + 2 + 1 through `present.*` → `past_key_values.*`;
`leftPadding` = the padded row against the same tokens run alone. WebGPU adapter: {gpu}.
The file also passes `onnx.checker.check_model(full_check=True)`, and
`tools/train-model/check_transformers_js.ts` loads the folder with `@huggingface/transformers`
(AutoTokenizer, AutoModelForCausalLM, fp32, onnxruntime-node CPU) and reproduces PyTorch's
greedy continuations below token for token.

| backend | prefill | cached | leftPadding |
| --- | --- | --- | --- |
{rows}

## Samples (PyTorch, seed {a['seed']}, 40 new tokens, sampling = top-k 50)

{samples}

## Limits

A few million parameters trained for under an hour of CPU time on about a million words of 1961 American
English: it writes locally plausible, globally incoherent text and knows nothing after 1961
(nor about Apple the company). It is here to make decoding behaviour (greedy, sampling,
top-k, top-p, beam search) observable on a real model, not to be useful.
"""
