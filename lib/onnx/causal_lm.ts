/**
 * A causal language model exported to ONNX in Hugging Face's layout (optimum's
 * decoder-with-past signature), run by onnxruntime-web on WebGPU or WASM or by onnxruntime-node
 * on the CPU, as a
 * {@linkcode LanguageModel}: {@linkcode OnnxCausalLM.start} runs the prompt once (prefill) and
 * copies its KV cache to every row; each {@linkcode OnnxDecodeState.step} reorders the cache by
 * the rows' parents and runs one new token per row for all rows in one batched call.
 *
 * Inputs: `input_ids`, `attention_mask`, `position_ids` (when the graph has it),
 * `past_key_values.{i}.key/.value` `[rows, kvHeads, past, headDim]` (past 0 allowed),
 * `use_cache_branch` for merged decoders, `num_logits_to_keep` (fed 1) when the graph has it.
 * Outputs: `logits`, `present.{i}.key/.value`. On WebGPU the `present.*` outputs stay on the GPU
 * and only the logits are downloaded.
 *
 * @example
 * ```ts
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const state = await model.start(model.tokenizer.encode("What is Apple?"), 1);
 * await state.dispose();
 * await model.dispose();
 * ```
 * @module
 */
import * as ort from "onnxruntime-web/webgpu";
import type {
  DecodeState,
  LanguageModel,
  StepRequest,
  TopTokens,
} from "../decoding/language_model.ts";
import { logSoftmax } from "../decoding/processors.ts";
import {
  type Backend,
  type BackendRequest,
  chooseBackend,
  freeCores,
  ortFor,
  type OrtModule,
  sessionOptions,
  wasmThreads,
  webGpuAdapter,
} from "./backend.ts";
import { type ModelGeometry, modelGeometry, readJsonFile } from "./config.ts";
import { embeddingTables, type InitializerShape, initializerShapes } from "./graph_info.ts";
import type { HubOptions } from "./hub.ts";
import type { DtypeRequest, ModelFiles } from "./model_files.ts";
import { resolveModel } from "./model_source.ts";
import { type CacheNames, type CacheShape, cacheSlots, KvCache } from "./kv_cache.ts";
import {
  type DecoderRewrites,
  NO_REWRITES,
  REWRITE_NAMES,
  rewriteDecoder,
} from "./graph_rewrite.ts";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.ts";

/** Options of {@linkcode OnnxCausalLM.load}. */
export interface LoadOptions extends HubOptions {
  /** `auto` (default): WebGPU when an adapter exists, else `cpu` if it loads, else WASM. */
  backend?: BackendRequest;
  /** Which file variant: `auto` (default) chooses per backend as transformers.js does. */
  dtype?: DtypeRequest;
  /**
   * Threads of the `cpu` and `wasm` backends (default: the free cores); WebGPU uses 1. The WASM
   * runtime takes its count once per process, at its first session.
   */
  threads?: number;
  /**
   * Apply `graph_rewrite.ts`'s rewrites where safe (fused attention, cache gathered by
   * `beam_idx` in the graph, LM head on the last position, in-graph top-k, skip layer norms,
   * an int8-screened argmax of a large tied head on the native runtime, the head as `Gemm` on
   * its embedding table on WASM and, for vocabularies not a multiple of 4, on WebGPU);
   * `false` runs the graph as published, an object turns single rewrites off
   * (`{ beamIdx: false }`).
   * @default {true}
   */
  rewrite?: boolean | Partial<DecoderRewrites>;
}

/** One timed session run. */
export interface RunRecord {
  /** `prefill` for the prompt, `decode` for one token per row. */
  phase: "prefill" | "decode";
  /** Rows in the batch. */
  rows: number;
  /** New tokens per row fed in this run. */
  newTokens: number;
  /** Cached tokens per row before the run. */
  pastLength: number;
  /** Wall time of the run, including the logits' download, in milliseconds. */
  ms: number;
  /**
   * Bytes of logits (or top-k values and ids) copied to the CPU: the only output downloaded per
   * run on WebGPU.
   */
  logitsBytes: number;
}

/** What one session run returns: each row's last-position logits or top-k, and the grown cache. */
export interface Forward {
  /** Last-position logits per row (absent when top-k was asked of an in-graph top-k head). */
  logits?: Float32Array[];
  /** Last-position top-k per row, when asked and the graph has the head. */
  top?: TopTokens[];
  /** The cache including this run's tokens. */
  cache: KvCache;
}

/** An ONNX decoder with its tokenizer, implementing {@linkcode LanguageModel}. */
export class OnnxCausalLM implements LanguageModel {
  /** Runs since the last {@linkcode OnnxCausalLM.start}: the prefill, then each decode step. */
  runs: RunRecord[] = [];

  private constructor(
    /** The local model folder. */
    readonly folder: string,
    /** The backend that runs the session. */
    readonly backend: Backend,
    /** Geometry from config.json. */
    readonly geometry: ModelGeometry,
    /** The folder's tokenizer. */
    readonly tokenizer: TextTokenizer,
    /** The onnxruntime-web session. */
    readonly session: ort.InferenceSession,
    private readonly cacheNames: CacheNames[],
    private readonly cacheShape: CacheShape,
    /** Number of logits per row the graph returns. */
    readonly vocabSize: number,
    /** Longest sequence (prompt and generated tokens) the graph can take, when it is bounded. */
    readonly maxPositions: number | undefined,
    /** The graph, external data and dtype that run. */
    readonly files: ModelFiles,
    /** The Hub repository the files came from, when they did. */
    readonly repo: string | undefined,
    /** The runtime module whose tensors the session takes. */
    readonly ort: OrtModule,
    /** Threads the session computes with. */
    readonly threads: number,
    /** The load-time rewrites the session's graph has (`graph_rewrite.ts`). */
    readonly rewrites: DecoderRewrites,
  ) {}

  /** Path of the ONNX graph that runs. */
  get graphPath(): string {
    return `${this.folder}/${this.files.graph}`;
  }

  /**
   * Loads a model folder (or Hub id, downloaded into the cache) on the requested backend.
   * Errors name the file at fault: missing folder, unreadable config, corrupt ONNX graph, or a
   * graph without the decoder-with-past inputs.
   * @example
   * ```ts
   * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "auto" });
   * console.log(model.backend);
   * ```
   */
  static async load(name: string, options: LoadOptions = {}): Promise<OnnxCausalLM> {
    const backend = await chooseBackend(options.backend ?? "auto");
    const fp16Supported = backend === "webgpu" ? (await webGpuAdapter())?.fp16 ?? false : true;
    const source = await resolveModel(name, { ...options, backend, fp16Supported });
    const { folder, files } = source;
    const geometry = modelGeometry(
      await readJsonFile(`${folder}/config.json`),
      await readJsonFile(`${folder}/generation_config.json`, { optional: true }),
    );
    const tokenizer = await loadTokenizer(folder);
    const requested = backend === "webgpu" ? 1 : options.threads ?? freeCores();
    if (!Number.isInteger(requested) || requested < 1) {
      throw new RangeError(`threads must be a positive integer; got ${requested}`);
    }
    const runtime = await ortFor(backend, requested);
    const threads = backend === "wasm" ? wasmThreads() ?? requested : requested;
    const { session, initializers, rewrites } = await createSession(
      folder,
      files,
      backend,
      geometry,
      runtime,
      threads,
      options.rewrite ?? true,
    );
    const graph = `${folder}/${files.graph}`;
    let layout, maxPositions;
    try {
      maxPositions = checkGraph(folder, graph, geometry, session, initializers);
      layout = cacheLayout(session, geometry, graph);
    } catch (e) {
      await exclusive(() => session.release());
      throw e;
    }
    const { cacheNames, cacheShape } = layout;
    const logits = session.outputMetadata.find((m) => m.name === "logits");
    const logitsDim = logits?.isTensor ? logits.shape[2] : undefined;
    const vocabSize = typeof logitsDim === "number" ? logitsDim : geometry.vocabSize;
    return new OnnxCausalLM(
      folder,
      backend,
      geometry,
      tokenizer,
      session,
      cacheNames,
      cacheShape,
      vocabSize,
      maxPositions,
      files,
      source.repo,
      runtime,
      threads,
      rewrites,
    );
  }

  /** End-of-sequence ids from the generation config. */
  get eosTokenIds(): readonly number[] {
    return this.geometry.eosTokenIds;
  }

  /**
   * The text of one token.
   * @example
   * ```ts
   * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
   * model.tokenText(model.tokenizer.encode(" the")[0]); // " the"
   * ```
   */
  tokenText(id: number): string {
    return this.tokenizer.tokenText(id);
  }

  /**
   * Prefill: runs `prompt` once (batch 1) for `rows` rows: with a `beam_idx` input the first
   * step fans the one cached row out in the graph, otherwise the cache is copied to every row.
   * @example
   * ```ts
   * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
   * const state = await model.start(model.tokenizer.encode("The"), 2);
   * state.logProbs.length; // 2
   * ```
   */
  async start(
    prompt: readonly number[],
    rows: number,
    request: StepRequest = {},
  ): Promise<OnnxDecodeState> {
    if (prompt.length === 0) {
      throw new RangeError("the prompt must hold at least one token for an ONNX causal LM");
    }
    if (!Number.isInteger(rows) || rows < 1) {
      throw new RangeError(`rows must be a positive integer; got ${rows}`);
    }
    this.runs = [];
    const empty = KvCache.empty(this.cacheNames, this.cacheShape, 1, this.ort);
    const first = await this.forward([prompt], empty, "prefill", request);
    const fan = <T>(x: T[] | undefined) => x && new Array<T>(rows).fill(x[0]);
    // With beam_idx every row continues the one cached row until the first step gathers it.
    const inGraph = this.rewrites.beamIdx;
    const fromPrefill = new Array<number>(rows).fill(0);
    const cache = inGraph ? first.cache : await first.cache.reorder(fromPrefill);
    const cacheRows = inGraph ? fromPrefill : fromPrefill.map((_, i) => i);
    return new OnnxDecodeState(this, fan(first.logits), fan(first.top), cache, cacheRows);
  }

  /**
   * Runs `tokens[r]` (all rows the same length) after `cache` and returns each row's
   * last-position logits (or top-k, when `request.topK` is set and the graph has the head) and
   * the grown cache. Row `r` continues cache row `beamIdx[r]` (default: row r; other orders
   * need the `beam_idx` rewrite). Disposes `cache`.
   * @example
   * ```ts
   * // const { logits, cache } = await model.forward([[464, 318]], emptyCache, "prefill");
   * ```
   */
  async forward(
    tokens: readonly (readonly number[])[],
    cache: KvCache,
    phase: RunRecord["phase"],
    request: StepRequest = {},
    beamIdx?: readonly number[],
  ): Promise<Forward> {
    const rows = tokens.length;
    const n = tokens[0].length;
    const past = cache.pastLength;
    // Past the position table a GPU's Gather reads zeros and generation goes on, wrong.
    if (this.maxPositions !== undefined && past + n > this.maxPositions) {
      cache.dispose();
      throw new RangeError(
        `position ${past + n - 1} is beyond the ${this.maxPositions} positions of ` +
          `${this.graphPath} (tokens so far: ${past}, this run: ${n})`,
      );
    }
    const int64 = (values: number[], dims: number[]) =>
      new this.ort.Tensor("int64", BigInt64Array.from(values, BigInt), dims);
    const feeds: Record<string, ort.Tensor> = {
      ...cache.feeds(),
      input_ids: int64(tokens.flat(), [rows, n]),
    };
    const inputs = this.session.inputNames;
    // Filled in place: a step allocates no per-position JavaScript arrays or BigInts.
    if (inputs.includes("attention_mask")) {
      const ones = new BigInt64Array(rows * (past + n)).fill(1n);
      feeds.attention_mask = new this.ort.Tensor("int64", ones, [rows, past + n]);
    }
    if (inputs.includes("position_ids")) {
      const positions = new BigInt64Array(rows * n);
      for (let i = 0; i < positions.length; i++) positions[i] = BigInt(past + (i % n));
      feeds.position_ids = new this.ort.Tensor("int64", positions, [rows, n]);
    }
    // Newer exports compute the LM head for the last k positions only (transformers.js feeds
    // 1 while generating); only the last position's logits are used here.
    if (inputs.includes("num_logits_to_keep")) {
      feeds.num_logits_to_keep = new this.ort.Tensor("int64", BigInt64Array.from([1n]), []);
    }
    if (this.rewrites.beamIdx) {
      const order = beamIdx ?? Array.from({ length: rows }, (_, r) => r);
      feeds[REWRITE_NAMES.beamIdx] = int64([...order], [rows]);
      const identity = order.length === cache.rows && order.every((p, r) => p === r);
      feeds[REWRITE_NAMES.reorder] = new this.ort.Tensor(
        "bool",
        new Uint8Array([identity ? 0 : 1]),
        [1],
      );
    } else if (beamIdx && beamIdx.some((p, r) => p !== r)) {
      throw new Error(`${this.graphPath} has no beam_idx input; reorder the cache instead`);
    }
    const topK = this.rewrites.topK ? request.topK : undefined;
    if (this.rewrites.topK) {
      feeds[REWRITE_NAMES.topK] = int64([Math.min(topK ?? 1, this.vocabSize)], [1]);
    }
    // Only the argmax wanted: the screen finds it without the float32 head's every logit.
    const screened = this.rewrites.screenedArgmax && topK === 1 && request.logProbs === false;
    if (this.rewrites.screenedArgmax) {
      feeds[REWRITE_NAMES.screen] = new this.ort.Tensor(
        "bool",
        new Uint8Array([screened ? 1 : 0]),
        [1],
      );
    }
    if (inputs.includes("use_cache_branch")) {
      feeds.use_cache_branch = new this.ort.Tensor(
        "bool",
        new Uint8Array([past > 0 ? 1 : 0]),
        [1],
      );
    }
    const heads = topK === undefined
      ? ["logits"]
      : screened
      ? [REWRITE_NAMES.topTokens]
      : [REWRITE_NAMES.topLogProbs, REWRITE_NAMES.topTokens];
    // onnxruntime-node writes the grown cache into the buffers of the step before; other
    // runtimes allocate their outputs (WASM copies them out of its heap, WebGPU keeps them).
    const given = this.backend === "cpu" ? cache.outputBuffers(rows, past + n, presentName) : {};
    const fetches: Record<string, ort.Tensor | null> = Object.fromEntries([
      ...heads.map((h) => [h, null]),
      ...this.session.outputNames.filter((n) => n.startsWith("present")).map((n) => [
        n,
        given[n] ?? null,
      ]),
    ]);
    const { outputs, read, ms } = await exclusive(async () => {
      const t0 = performance.now();
      const outputs = await this.session.run(feeds, fetches);
      const read = await Promise.all(heads.map((h) => outputs[h].getData()));
      return { outputs, read, ms: performance.now() - t0 };
    });
    for (const [name, t] of Object.entries(feeds)) {
      if (!name.startsWith("past_key_values")) t.dispose();
    }
    // Every head is [rows, positions, width]; the last position is the next token's.
    const [, kept, width] = outputs[heads[0]].dims;
    const lastRow = <T extends Float32Array | Int32Array | BigInt64Array>(data: T, r: number) =>
      data.subarray((r * kept + kept - 1) * width, (r * kept + kept) * width) as T;
    let logits: Float32Array[] | undefined, top: TopTokens[] | undefined;
    let bytesRead: number;
    if (topK === undefined) {
      const all = toFloat32(read[0]);
      logits = Array.from({ length: rows }, (_, r) => lastRow(all, r).slice(0, this.vocabSize));
      bytesRead = all.byteLength;
    } else {
      // A screened head's logits are exact for its candidates only: no log-probabilities.
      const values = screened ? undefined : read[0] as Float32Array;
      const ids = read[screened ? 0 : 1] as BigInt64Array;
      top = Array.from({ length: rows }, (_, r) => ({
        logProbs: values ? lastRow(values, r).slice() : new Float32Array(1).fill(NaN),
        tokens: Int32Array.from(lastRow(ids, r), Number),
      }));
      bytesRead = (values?.byteLength ?? 0) + ids.byteLength;
    }
    for (const h of heads) outputs[h].dispose();
    // onnxruntime-node wrote the given buffers and returns copies of them: keep the buffers.
    for (const name of Object.keys(given)) outputs[name].dispose();
    const next = KvCache.fromOutputs(
      this.cacheNames,
      this.cacheShape,
      { ...outputs, ...given },
      presentName,
      this.ort,
      this.backend === "cpu" ? cache : undefined,
    );
    cache.dispose();
    for (const [name, t] of Object.entries(outputs)) {
      if (!heads.includes(name) && !name.startsWith("present")) t.dispose();
    }
    this.runs.push({
      phase,
      rows,
      newTokens: n,
      pastLength: past,
      ms,
      logitsBytes: bytesRead,
    });
    return { ...(logits ? { logits } : {}), ...(top ? { top } : {}), cache: next };
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await exclusive(() => this.session.release());
  }
}

/**
 * Decoding state of an {@linkcode OnnxCausalLM}: per row its logits (log-probs computed on first
 * use) or, when the step asked for them, its top-k tokens; and the KV cache.
 */
export class OnnxDecodeState implements DecodeState {
  #logProbs: Float32Array[] | undefined;
  #cache: KvCache | undefined;

  /** Wraps one run's outputs; used by {@linkcode OnnxCausalLM}. */
  constructor(
    private readonly model: OnnxCausalLM,
    /** Raw last-position logits of each row (absent when the step asked for top-k). */
    readonly logits: readonly Float32Array[] | undefined,
    /** Each row's most likely tokens, best first, when the step asked for them. */
    readonly top: readonly TopTokens[] | undefined,
    cache: KvCache,
    /**
     * The cache row holding each row's past (with `beam_idx`, row 0 for all after the prefill;
     * after a beam step not necessarily the rows' own order, see `step`).
     */
    readonly cacheRows: readonly number[],
  ) {
    this.#cache = cache;
  }

  /** `log_softmax` of each row's last-position logits; throws for a top-k state. */
  get logProbs(): readonly Float32Array[] {
    if (!this.logits) {
      throw new Error("this state holds each row's top-k only; step without topK for full rows");
    }
    this.#logProbs ??= this.logits.map((row) => logSoftmax(row, new Float32Array(row.length)));
    return this.#logProbs;
  }

  /** Number of rows. */
  get rows(): number {
    return this.cacheRows.length;
  }

  /**
   * The KV cache (its rows may be fewer than the state's before the first step, and in the
   * order {@linkcode OnnxDecodeState.cacheRows} gives); throws once the state has been stepped
   * or disposed.
   */
  get cache(): KvCache {
    if (!this.#cache) throw new Error("this decode state was already stepped or disposed");
    return this.#cache;
  }

  /**
   * Row `i` of the next state continues row `parents[i]` with `tokens[i]`: the cache is
   * reordered by `parents` (inside the graph through `beam_idx` when it has the input, else by
   * `KvCache.reorder`, on the GPU when it lives there) and all rows run as one batch. Without
   * `beam_idx` the rows are placed by `cacheSlots`: a parent's first continuation stays in its
   * cache row, so only the rows of parents continued more than once are copied.
   * `request.topK` asks for each row's k best tokens instead of its full row.
   * @example
   * ```ts
   * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
   * const s0 = await model.start(model.tokenizer.encode("The"), 2);
   * const s1 = await s0.step([0, 0], [1, 2], { topK: 4 });
   * s1.top?.[0].tokens.length; // 4
   * await s1.dispose();
   * ```
   */
  async step(
    parents: readonly number[],
    tokens: readonly number[],
    request: StepRequest = {},
  ): Promise<OnnxDecodeState> {
    if (parents.length !== tokens.length || parents.length === 0) {
      throw new RangeError(
        `step needs one parent per token and at least one row; got ${parents.length} parents ` +
          `and ${tokens.length} tokens`,
      );
    }
    for (const p of parents) {
      if (!Number.isInteger(p) || p < 0 || p >= this.rows) {
        throw new RangeError(`parent row ${p} is outside the state's rows 0..${this.rows - 1}`);
      }
    }
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.model.vocabSize) {
        throw new RangeError(`token ${t} is outside the vocabulary 0..${this.model.vocabSize - 1}`);
      }
    }
    const sources = parents.map((p) => this.cacheRows[p]);
    const inGraph = this.model.rewrites.beamIdx;
    // Same rows: each next row lives where cacheSlots puts it (mostly where its parent is), so
    // the reorder copies only the rows of parents continued more than once; the batch runs in
    // that order and its outputs map back to the beams' order.
    const slots = !inGraph && parents.length === this.cache.rows ? cacheSlots(sources) : undefined;
    const cache = inGraph ? this.cache : await this.cache.reorder(slots ? slots.parents : sources);
    this.#cache = undefined;
    const batch = tokens.map((t) => [t]);
    slots?.slots.forEach((slot, i) => batch[slot] = [tokens[i]]);
    const out = await this.model.forward(
      batch,
      cache,
      "decode",
      request,
      inGraph ? sources : undefined,
    );
    const cacheRows = slots ? slots.slots : parents.map((_, i) => i);
    return new OnnxDecodeState(
      this.model,
      out.logits && cacheRows.map((r) => out.logits![r]),
      out.top && cacheRows.map((r) => out.top![r]),
      out.cache,
      cacheRows,
    );
  }

  /** Releases the KV cache. */
  dispose(): void {
    this.#cache?.dispose();
    this.#cache = undefined;
  }
}

// All sessions share one onnxruntime WebAssembly instance, initialised once, and its WebGPU
// build suspends (asyncify) inside a run: a second session entering meanwhile corrupts the
// first run's outputs ("Reading data from non-tensor typed value"), and two first creations
// both initialise it ("multiple calls to 'initWasm()'"). So creations, runs and releases take
// turns, process-wide.
let runQueue: Promise<unknown> = Promise.resolve();

function exclusive<T>(run: () => Promise<T>): Promise<T> {
  const result = runQueue.then(run);
  runQueue = result.catch(() => {});
  return result;
}

function presentName(input: string): string {
  return input.replace(/^past_key_values/, "present");
}

/**
 * Logits as float32 whatever the graph's output type: fp16 exports return float16 (a
 * `Float16Array` where the runtime has one, else raw `Uint16Array` halves).
 */
function toFloat32(data: ort.Tensor.DataType): Float32Array {
  if (data instanceof Float32Array) return data;
  if (typeof Float16Array !== "undefined" && data instanceof Float16Array) {
    return Float32Array.from(data);
  }
  if (data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
  throw new Error(`logits of type ${data.constructor.name} are not supported`);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The smallest float32 LM head screened by default: beyond the L3 caches of common CPUs. */
const SCREEN_MIN_HEAD_BYTES = 64 * 2 ** 20;

async function createSession(
  folder: string,
  files: ModelFiles,
  backend: Backend,
  geometry: ModelGeometry,
  runtime: OrtModule,
  threads: number,
  rewrite: boolean | Partial<DecoderRewrites>,
): Promise<
  { session: ort.InferenceSession; initializers: InitializerShape[]; rewrites: DecoderRewrites }
> {
  const path = `${folder}/${files.graph}`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  // onnxruntime-web names external data as the graph's `location` entries: the file names.
  const externalData: { path: string; data: Uint8Array }[] = [];
  for (const file of files.externalData) {
    try {
      externalData.push({
        path: file.slice(file.lastIndexOf("/") + 1),
        data: await Deno.readFile(`${folder}/${file}`),
      });
    } catch (e) {
      throw new Error(`cannot read ${folder}/${file}: ${(e as Error).message}`);
    }
  }
  const gpuOutputs = Array.from({ length: geometry.layers }, (_, i) => [
    `present.${i}.key`,
    `present.${i}.value`,
  ]).flat();
  let initializers: InitializerShape[];
  try {
    initializers = initializerShapes(bytes);
  } catch (e) {
    throw new Error(`${path} is not a well-formed ONNX model: ${(e as Error).message}`);
  }
  // The native runtime finds external data beside the graph's path, so such graphs run as
  // published there.
  const native = backend === "cpu" && externalData.length > 0;
  // Which rewrites pay where (measured by `deno task bench` and interleaved session timings):
  // fused attention everywhere (interleaved in one process, a decode step of the embedded model
  // spent 10-20% less in session.run on onnxruntime-node and WASM, ~10% less on WebGPU, with
  // identical tokens), and skip layer norms too (3-5% less, fewer dispatches). On WebGPU the
  // cache's reorder is already a buffer copy on the GPU and TopK has no WebGPU kernel (it would
  // fall back to the CPU and download the logits anyway), so of the rest only the LM-head slice
  // pays. The cache's reorder stays outside the graph on the CPU runtimes too: their cache is
  // JavaScript memory that KvCache permutes in place, copying only the rows that change, while
  // the in-graph gather's If node and Identity copies cost every step (interleaved on
  // onnxruntime-node, one thread: median step 4% longer greedy, 13% longer at width 4).
  // The int8-screened argmax pays where the head streams from DRAM on the native runtime (its
  // int8 product is fast there; onnxruntime-web's WASM one took longer than the float32 head).
  // The head as Gemm on the embedding table (transB) pays on WebGPU where the vocabulary is not
  // a multiple of 4: onnxruntime-web's MatMul shader reads the weights four columns at a time
  // only then, and GPT-2's 50257 took 376 ms against 843 ms here, while the embedded model's
  // 4096 was a little faster as a MatMul (21 vs 24 ms). On WASM the head alone ran faster as
  // Gemm (3.6 vs 4.7 ms) but a whole GPT-2-small step did not (p50 17.7 vs 17.4 ms, one
  // process, interleaved); it stays on there for memory: the [hidden, vocab] copy (154 MB for
  // GPT-2 small) is not held. The native runtime ran both forms alike and screens big heads.
  const wanted: DecoderRewrites = {
    fusedAttention: true,
    beamIdx: false,
    lastPositionLogits: true,
    topK: backend !== "webgpu",
    skipLayerNorm: true,
    screenedArgmax: backend === "cpu" &&
      geometry.vocabSize * geometry.hiddenSize * 4 >= SCREEN_MIN_HEAD_BYTES,
    gemmHead: backend === "wasm" || (backend === "webgpu" && geometry.vocabSize % 4 !== 0),
    ...(typeof rewrite === "object" ? rewrite : {}),
  };
  const rewritten = rewrite !== false && !native ? rewriteDecoder(bytes, wanted) : undefined;
  const rewrites = rewritten?.applied ?? { ...NO_REWRITES };
  try {
    const options = sessionOptions(backend, gpuOutputs, threads);
    const graph = rewritten?.bytes ?? bytes;
    const session = await exclusive(() =>
      native
        ? runtime.InferenceSession.create(path, options)
        : runtime.InferenceSession.create(graph, {
          ...options,
          ...(externalData.length > 0 ? { externalData } : {}),
        })
    );
    return { session, initializers, rewrites };
  } catch (e) {
    throw new Error(
      `${path} could not be loaded as an ONNX model on ${backend}: ` +
        `${(e as Error).message ?? e}`,
    );
  }
}

function cacheLayout(
  session: ort.InferenceSession,
  geometry: ModelGeometry,
  graph: string,
): { cacheNames: CacheNames[]; cacheShape: CacheShape } {
  const required = ["input_ids", "past_key_values.0.key", "past_key_values.0.value"];
  const missing = required.filter((n) => !session.inputNames.includes(n));
  if (missing.length > 0 || !session.outputNames.includes("logits")) {
    throw new Error(
      `${graph} is not a decoder with past key values (optimum's ` +
        `text-generation-with-past export): missing ${
          [...missing, ...(session.outputNames.includes("logits") ? [] : ["output logits"])]
            .join(", ")
        }; it has inputs ${session.inputNames.join(", ")}`,
    );
  }
  const cacheNames = Array.from({ length: geometry.layers }, (_, i) => ({
    key: `past_key_values.${i}.key`,
    value: `past_key_values.${i}.value`,
  }));
  for (const { key, value } of cacheNames) {
    for (const name of [key, value]) {
      if (!session.inputNames.includes(name) || !session.outputNames.includes(presentName(name))) {
        throw new Error(
          `${graph} lacks ${name} or ${presentName(name)} although ` +
            `config.json says ${geometry.layers} layers`,
        );
      }
    }
  }
  const meta = session.inputMetadata.find((m) => m.name === "past_key_values.0.key");
  const type = meta?.isTensor ? meta.type : "float32";
  if (type !== "float32" && type !== "float16") {
    throw new Error(`${graph}: KV cache type ${type} is not supported`);
  }
  return {
    cacheNames,
    cacheShape: { kvHeads: geometry.kvHeads, headDim: geometry.headDim, dataType: type },
  };
}

/**
 * Checks config.json against the graph before the first run: layers (the cache inputs), KV
 * heads and head size (the cache's shape), vocabulary and width (the token table) and positions
 * (a learned position table). Returns the longest sequence the graph takes, when bounded.
 * @throws {Error} naming config.json, the graph, and both values.
 */
function checkGraph(
  folder: string,
  graph: string,
  geometry: ModelGeometry,
  session: ort.InferenceSession,
  initializers: readonly InitializerShape[],
): number | undefined {
  const config = `${folder}/config.json`;
  const mismatch = (what: string, configured: number, key: string, actual: number, where: string) =>
    new Error(
      `${config} says ${key} = ${configured} but ${graph} has ${actual} ${what} (${where}); ` +
        `the config does not describe this graph`,
    );
  const layers = session.inputNames.filter((n) => /^past_key_values\.\d+\.key$/.test(n)).length;
  // No cache inputs at all is a different fault, which cacheLayout names.
  if (layers > 0 && layers !== geometry.layers) {
    throw mismatch(
      "layers",
      geometry.layers,
      "n_layer / num_hidden_layers",
      layers,
      `past_key_values.0–${layers - 1}`,
    );
  }
  const meta = session.inputMetadata.find((m) => m.name === "past_key_values.0.key");
  const dims = meta?.isTensor ? meta.shape : [];
  if (typeof dims[1] === "number" && dims[1] !== geometry.kvHeads) {
    throw mismatch(
      "key/value heads",
      geometry.kvHeads,
      "num_key_value_heads (or n_head)",
      dims[1],
      "past_key_values.0.key dimension 1",
    );
  }
  if (typeof dims[3] === "number" && dims[3] !== geometry.headDim) {
    throw mismatch(
      "as the head size",
      geometry.headDim,
      "n_embd / n_head (head_dim)",
      dims[3],
      "past_key_values.0.key dimension 3",
    );
  }
  const tables = embeddingTables(initializers);
  if (tables.tokens) {
    if (tables.tokens.rows < geometry.vocabSize) {
      throw mismatch(
        "tokens",
        geometry.vocabSize,
        "vocab_size",
        tables.tokens.rows,
        tables.tokens.name,
      );
    }
    const width = geometry.embedDim ?? geometry.hiddenSize;
    if (tables.tokens.cols !== width) {
      throw mismatch(
        "as the width",
        width,
        "n_embd / hidden_size",
        tables.tokens.cols,
        tables.tokens.name,
      );
    }
  }
  // OPT's table has two rows more than its positions (an offset kept from fairseq).
  const offset = geometry.modelType === "opt" ? 2 : 0;
  const graphPositions = tables.positions ? tables.positions.rows - offset : undefined;
  if (
    graphPositions !== undefined && geometry.maxPositions !== undefined &&
    graphPositions !== geometry.maxPositions
  ) {
    throw mismatch(
      "positions",
      geometry.maxPositions,
      "n_positions / max_position_embeddings",
      graphPositions,
      tables.positions!.name,
    );
  }
  return graphPositions ?? geometry.maxPositions;
}
