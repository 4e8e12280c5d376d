/**
 * Checks an exported decoder-with-past ONNX model against logits PyTorch computed, with
 * onnxruntime-web on the WASM backend and on WebGPU (when an adapter exists).
 *
 * Three comparisons per backend, each the maximum absolute logit difference over positions
 * whose attention-mask entry is 1:
 * - `prefill`: the whole batch in one call with past length 0;
 * - `cached`: the same tokens fed in chunks (e.g. 5, 2, 1) through `present.*` -> `past_key_values.*`;
 * - `leftPadding`: the left-padded row against the same tokens run alone without padding.
 *
 * Usage: deno run -A tools/train-model/check_onnx.ts <model.onnx> <reference.json> [out.json]
 * Exits 1 when a difference exceeds the tolerance or a backend fails.
 *
 * @example
 * ```sh
 * deno run -A tools/train-model/check_onnx.ts data/models/brown-gpt2/onnx/model.onnx /tmp/ref.json
 * ```
 * @module
 */
import * as ort from "onnxruntime-web/webgpu";

ort.env.wasm.numThreads = 1;

/** What PyTorch wrote: one left-padded batch, its logits, and the padded row run alone. */
export interface OnnxReference {
  /** Number of logits per position. */
  vocabSize: number;
  /** Transformer layers (one key and one value cache each). */
  nLayer: number;
  /** Attention heads. */
  nHead: number;
  /** Per-head dimension. */
  headDim: number;
  /** Token ids [batch][seq]. */
  inputIds: number[][];
  /** 1 = real token, 0 = padding, [batch][seq]. */
  attentionMask: number[][];
  /** Position ids [batch][seq]. */
  positionIds: number[][];
  /** PyTorch logits, flattened [batch, seq, vocab]. */
  logits: number[];
  /** Chunk lengths for the cached run; they sum to seq. */
  chunks: number[];
  /** Which row is left-padded. */
  paddedRow: number;
}

/** Maximum absolute logit differences of one backend. */
export interface BackendDiffs {
  /** Execution provider that ran. */
  backend: string;
  /** Whole sequence, past length 0. */
  prefill: number;
  /** Chunked through the KV cache. */
  cached: number;
  /** Left-padded row vs the same tokens alone. */
  leftPadding: number;
}

type Feeds = Record<string, ort.Tensor>;

const int64 = (rows: number[][]) =>
  new ort.Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [
    rows.length,
    rows[0].length,
  ]);

function emptyPast(ref: OnnxReference, batch: number): Feeds {
  const feeds: Feeds = {};
  for (let i = 0; i < ref.nLayer; i++) {
    for (const kind of ["key", "value"]) {
      feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [
        batch,
        ref.nHead,
        0,
        ref.headDim,
      ]);
    }
  }
  return feeds;
}

async function run(
  session: ort.InferenceSession,
  ref: OnnxReference,
  ids: number[][],
  mask: number[][],
  positions: number[][],
  past: Feeds,
): Promise<{ logits: Float32Array; past: Feeds }> {
  const out = await session.run({
    input_ids: int64(ids),
    attention_mask: int64(mask),
    position_ids: int64(positions),
    ...past,
  });
  const next: Feeds = {};
  for (let i = 0; i < ref.nLayer; i++) {
    for (const kind of ["key", "value"]) {
      next[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`];
    }
  }
  return { logits: out.logits.data as Float32Array, past: next };
}

/** Max |a - b| over positions (row, t) with mask 1; `a` is [rows, seq, vocab] from `seqStart`. */
function maxDiff(
  ref: OnnxReference,
  got: Float32Array,
  rows: number[],
  seqStart: number,
  seqLen: number,
  expected: (row: number, t: number, v: number) => number,
): number {
  const v = ref.vocabSize;
  let worst = 0;
  rows.forEach((row, r) => {
    for (let t = 0; t < seqLen; t++) {
      if (ref.attentionMask[row][seqStart + t] === 0) continue;
      for (let k = 0; k < v; k++) {
        const d = Math.abs(got[(r * seqLen + t) * v + k] - expected(row, seqStart + t, k));
        if (!(d <= worst)) worst = d; // NaN propagates as a failure
      }
    }
  });
  return worst;
}

/**
 * Runs the three comparisons on one execution provider.
 *
 * @example
 * ```ts
 * const diffs = await checkBackend("model.onnx", reference, "wasm");
 * console.log(diffs.prefill, diffs.cached, diffs.leftPadding);
 * ```
 */
export async function checkBackend(
  modelPath: string,
  ref: OnnxReference,
  backend: "wasm" | "webgpu",
): Promise<BackendDiffs> {
  const session = await ort.InferenceSession.create(await Deno.readFile(modelPath), {
    executionProviders: [backend],
  });
  const batch = ref.inputIds.length;
  const seq = ref.inputIds[0].length;
  const v = ref.vocabSize;
  const rows = [...Array(batch).keys()];
  const torch = (row: number, t: number, k: number) => ref.logits[(row * seq + t) * v + k];

  const whole = await run(
    session,
    ref,
    ref.inputIds,
    ref.attentionMask,
    ref.positionIds,
    emptyPast(ref, batch),
  );
  const prefill = maxDiff(ref, whole.logits, rows, 0, seq, torch);

  let cached = 0;
  let past = emptyPast(ref, batch);
  let start = 0;
  for (const len of ref.chunks) {
    const slice = (m: number[][]) => m.map((r) => r.slice(start, start + len));
    const step = await run(
      session,
      ref,
      slice(ref.inputIds),
      ref.attentionMask.map((r) => r.slice(0, start + len)),
      slice(ref.positionIds),
      past,
    );
    cached = Math.max(cached, maxDiff(ref, step.logits, rows, start, len, torch));
    past = step.past;
    start += len;
  }

  const row = ref.paddedRow;
  const pad = ref.attentionMask[row].indexOf(1);
  const alone = await run(
    session,
    ref,
    [ref.inputIds[row].slice(pad)],
    [ref.attentionMask[row].slice(pad)],
    [ref.positionIds[row].slice(pad)],
    emptyPast(ref, 1),
  );
  let leftPadding = 0;
  for (let t = 0; t < seq - pad; t++) {
    for (let k = 0; k < v; k++) {
      const d = Math.abs(alone.logits[t * v + k] - whole.logits[(row * seq + pad + t) * v + k]);
      if (!(d <= leftPadding)) leftPadding = d;
    }
  }
  await session.release();
  return { backend, prefill, cached, leftPadding };
}

if (import.meta.main) {
  const [modelPath, refPath, outPath] = Deno.args;
  if (!modelPath || !refPath) {
    console.error("usage: check_onnx.ts <model.onnx> <reference.json> [out.json]");
    Deno.exit(2);
  }
  const tolerance = 1e-3;
  const ref: OnnxReference = JSON.parse(await Deno.readTextFile(refPath));
  const results: BackendDiffs[] = [];
  let ok = true;
  const backends: ("wasm" | "webgpu")[] = ["wasm"];
  const adapter = await navigator.gpu?.requestAdapter();
  if (adapter) backends.push("webgpu");
  else console.error("check_onnx: no WebGPU adapter, checking WASM only");
  for (const backend of backends) {
    const diffs = await checkBackend(modelPath, ref, backend);
    results.push(diffs);
    const bad = [diffs.prefill, diffs.cached, diffs.leftPadding].some((d) => !(d <= tolerance));
    if (bad) ok = false;
    console.log(JSON.stringify(diffs));
  }
  const adapterName = adapter ? adapter.info.description || adapter.info.vendor : null;
  const report = { tolerance, adapter: adapterName, results, ok };
  if (outPath) await Deno.writeTextFile(outPath, JSON.stringify(report, null, 2) + "\n");
  if (!ok) {
    console.error(`check_onnx: a difference exceeds ${tolerance}`);
    Deno.exit(1);
  }
}
