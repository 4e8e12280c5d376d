/**
 * Load-time rewrites of a decoder-with-past graph that do the decode step as the graph should,
 * each applied only where it cannot change a result:
 *
 * - **`fusedAttention`**: each layer's attention, from the heads' split to their merge, becomes
 *   one `com.microsoft.MultiHeadAttention` (onnxruntime's fused kernel on CPU, WASM and WebGPU)
 *   that also writes `present.*`; the graph's own mask enters as its additive `attention_bias`
 *   (a `Where` mask as `Where(cond, fill, 0)`), so whatever the graph masked (causal, padding)
 *   stays masked. Only where every layer matches the form `torch.onnx` gives GPT-2-style
 *   attention (see `matchAttention`), Q, K and V all split into the cache's head count (not
 *   multi-query or grouped-query attention), and the cache is float32; nodes left without a
 *   use (the heads' shape arithmetic) and initializers no node reads go. Where Q, K and V are
 *   the three parts of one `Split` of `MatMul` plus bias (GPT-2's `c_attn`), the fused node
 *   adds that bias itself (its `bias` input).
 * - **`beamIdx`**: a `beam_idx` input `[rows]` gathers every `past_key_values.*` input by row
 *   inside the graph (`Gather`, axis 0), so beam search reorders the cache where it lives and
 *   never copies it through JavaScript; the prefill's one row fans out to every beam on the first
 *   step. The Gathers sit in one `If` on a `reorder_cache` input whose other branch passes the
 *   cache through (`Identity`): a greedy step, whose rows all continue themselves, pays for no
 *   copy (unconditional Gathers made a greedy step of the embedded model markedly slower).
 *   Skipped for graphs with subgraphs (`If`/`Loop`/`Scan`: optimum's merged decoder), whose
 *   branches read the cache by name.
 * - **`lastPositionLogits`**: the LM head's `MatMul` reads only the last position
 *   (`Slice` on axis 1), so a prefill of L tokens computes one row of logits instead of L. Only
 *   where `logits` is that `MatMul` (through `Cast`s) with a constant weight, so each row is computed
 *   as before; not where the graph already has `num_logits_to_keep`, and not for dynamically
 *   quantized heads, whose scale depends on every row.
 * - **`topK`**: outputs `top_tokens` `[rows, positions, k]`, the k largest logits' ids
 *   (`TopK`, k fed as the `top_k` input; ties to the lower id), and `top_logprobs`, their
 *   log-probabilities (`LogSoftmax`, in float32, gathered at those ids): greedy and beam
 *   search read k values per row instead of the vocabulary. `logits` stays an output for the
 *   paths that need the whole distribution (sampling, logits processors).
 * - **`skipLayerNorm`**: a layer norm over a residual sum (`LayerNormalization`, or the
 *   `ReduceMean`…`Add` form torch.onnx exports before opset 17, on the last axis with constant
 *   float32 scale and shift) becomes one `com.microsoft.SkipLayerNormalization` that also adds
 *   the sublayer's bias and, where the residual stream goes on, outputs the sum
 *   (`input_skip_bias_sum`): three to five nodes fewer per norm. Only where one side of the sum
 *   is a `MatMul` (plus a bias vector the norm's size), so both sides have the stream's shape;
 *   an embedding sum, which may broadcast, keeps its own norm (onnxruntime fuses that one).
 * - **`screenedArgmax`**: a `screen_argmax` input (bool `[1]`) chooses, in one `If`, between the
 *   LM head as published and an int8 screen of it (`int8_screen.ts`): `MatMulInteger` of the
 *   dynamically quantized row with the head quantized per column bounds every logit, the tokens
 *   whose upper bound reaches the row's best lower bound get their float32 logit from the tied
 *   embedding's rows, and every other logit is −∞. So `top_tokens` with `top_k` 1 is the
 *   published head's argmax (up to float32 rounding ties, as every rewrite), reading a quarter
 *   of the head's bytes; `logits` and `top_logprobs` are then not the distribution's.
 *   `screened_candidates` counts the rescored tokens (−1 when the full head ran). Only with
 *   `lastPositionLogits` (one position per row) and where the head's float32 weight is the
 *   transpose of an embedding table a `Gather` reads (tied embeddings), bit for bit.
 * - **`gemmHead`**: the LM head's `MatMul` with `[hidden, vocab]` weights becomes
 *   `Gemm(x, table, transB = 1)` on the `[vocab, hidden]` table those weights transpose (the
 *   tied embedding, bit for bit, or the initializer a `Transpose` reads), between `Reshape`s to
 *   rows and back; the `[hidden, vocab]` copy then goes, a vocabulary's worth of weights less
 *   to hold. The same dot products in another kernel: each logit reads one contiguous row of the
 *   table. Only with `lastPositionLogits` (one position per row), float32 weights, and not where
 *   `screenedArgmax` took the head.
 *
 * Everything else in the file is copied through unchanged, weights included (the fused layers'
 * dead nodes and unused initializers aside).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rewriteDecoder } from "./graph_rewrite.ts";
 * const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
 * const { applied } = rewriteDecoder(bytes);
 * assertEquals(applied, {
 *   fusedAttention: true,
 *   beamIdx: true,
 *   lastPositionLogits: true,
 *   topK: true,
 *   skipLayerNorm: true,
 *   screenedArgmax: true,
 *   gemmHead: false, // the screen took the head
 * });
 * ```
 * @module
 */
import { screenHead } from "./int8_screen.ts";
import { ProtoReader, ProtoWriter } from "./protobuf.ts";

/** The rewrites {@linkcode rewriteDecoder} knows. */
export interface DecoderRewrites {
  /** Each layer's attention as one `com.microsoft.MultiHeadAttention`. */
  fusedAttention: boolean;
  /** A `beam_idx` input gathering the cache by row. */
  beamIdx: boolean;
  /** The LM head on the last position only. */
  lastPositionLogits: boolean;
  /** `top_logprobs` / `top_tokens` outputs, `top_k` input. */
  topK: boolean;
  /** Each residual sum and the layer norm over it as one `com.microsoft.SkipLayerNormalization`. */
  skipLayerNorm: boolean;
  /** A `screen_argmax` input: the LM head's argmax through an int8 screen, exact. */
  screenedArgmax: boolean;
  /** The LM head as `Gemm` on the `[vocab, hidden]` table it transposes (`transB`). */
  gemmHead: boolean;
}

/** The rewritten graph and which rewrites applied. */
export interface RewrittenDecoder {
  /** The new ONNX model. */
  bytes: Uint8Array;
  /** Which rewrites were applied (a requested one is false where it was not safe). */
  applied: DecoderRewrites;
}

/**
 * No rewrite: what a graph run as published has.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * assert(Object.values(NO_REWRITES).every((applied) => !applied));
 * ```
 */
export const NO_REWRITES: Readonly<DecoderRewrites> = Object.freeze({
  fusedAttention: false,
  beamIdx: false,
  lastPositionLogits: false,
  topK: false,
  skipLayerNorm: false,
  screenedArgmax: false,
  gemmHead: false,
});

/** Names the rewrites add to the graph. */
export const REWRITE_NAMES = {
  beamIdx: "beam_idx",
  reorder: "reorder_cache",
  topK: "top_k",
  topLogProbs: "top_logprobs",
  topTokens: "top_tokens",
  screen: "screen_argmax",
  screenedCandidates: "screened_candidates",
} as const;

/** TensorProto data types. */
const INT64 = 7, FLOAT = 1, BOOL = 9, UINT8 = 2;
const LAST_POSITION = "/last_position";
const ATTENTION_BIAS = "/attention_bias";
const ZERO = "rewrite/zero";
const MS_DOMAIN = "com.microsoft";
const MINUS_ONE = int64Initializer("rewrite/minus_one", [-1n]);
const ALL: DecoderRewrites = {
  fusedAttention: true,
  beamIdx: true,
  lastPositionLogits: true,
  topK: true,
  skipLayerNorm: true,
  screenedArgmax: true,
  gemmHead: true,
};
/** AttributeProto types. */
const ATTRIBUTE_FLOAT = 1, ATTRIBUTE_INT = 2, ATTRIBUTE_GRAPH = 5, ATTRIBUTE_INTS = 7;
/**
 * The screen's rounding margin besides its bound: relative to the approximate logit (its int32
 * product's float conversion and scaling), and absolute (below any logit gap that matters).
 */
const SCREEN_RELATIVE = 2 ** -10, SCREEN_ABSOLUTE = 2 ** -20;
/** The largest mask fill the fused form takes: `scores + fill` must still softmax to 0. */
const MASK_FILL_MAX = -1e4;
const SUBGRAPH_OPS = new Set(["If", "Loop", "Scan"]);

interface Field {
  field: number;
  raw: Uint8Array;
}

interface Node {
  inputs: string[];
  outputs: string[];
  opType: string;
  /** Every field but the inputs, as encoded. */
  rest: Uint8Array[];
  changed: boolean;
  /** Left out of the rewritten graph. */
  removed?: boolean;
}

function fieldsOf(bytes: Uint8Array): Field[] {
  const r = new ProtoReader(bytes);
  const out: Field[] = [];
  r.fields((field, wire, start) => {
    r.skip(wire);
    out.push({ field, raw: bytes.subarray(start, r.pos) });
    return true;
  });
  return out;
}

/** The payload of a length-delimited field's raw bytes. */
function payload(raw: Uint8Array): Uint8Array {
  const r = new ProtoReader(raw);
  r.varint();
  const s = r.sub();
  return raw.subarray(s.pos, s.end);
}

function parseNode(raw: Uint8Array): Node {
  const node: Node = { inputs: [], outputs: [], opType: "", rest: [], changed: false };
  const bytes = payload(raw);
  const r = new ProtoReader(bytes);
  r.fields((field, wire, start) => {
    if (field === 1 && wire === 2) node.inputs.push(r.string());
    else {
      if (field === 2 && wire === 2) node.outputs.push(r.string());
      else if (field === 4 && wire === 2) node.opType = r.string();
      else r.skip(wire);
      node.rest.push(bytes.subarray(start, r.pos));
    }
    return true;
  });
  return node;
}

/** A new node as a {@linkcode Node}, so later rewrites can rename its inputs. */
function nodeOf(
  op: string,
  inputs: string[],
  outputs: string[],
  attributes: (w: ProtoWriter) => void = () => {},
  domain = "",
): Node {
  const w = new ProtoWriter();
  for (const output of outputs) w.string(2, output);
  w.string(3, `rewrite/${outputs[0]}`).string(4, op);
  if (domain) w.string(7, domain);
  attributes(w);
  return { inputs, outputs, opType: op, rest: [w.finish()], changed: true };
}

function encodeNode(w: ProtoWriter, node: Node): void {
  for (const input of node.inputs) w.string(1, input);
  for (const raw of node.rest) w.raw(raw);
}

/** A new node's encoder, for nodes no later rewrite touches. */
function newNode(
  op: string,
  inputs: string[],
  outputs: string[],
  attributes?: (w: ProtoWriter) => void,
): (w: ProtoWriter) => void {
  const node = nodeOf(op, inputs, outputs, attributes);
  return (w) => encodeNode(w, node);
}

/** AttributeProto of type INT. */
function intAttribute(name: string, value: number): (w: ProtoWriter) => void {
  return (w) => w.message(5, (a) => a.string(1, name).int(20, ATTRIBUTE_INT).int(3, value));
}

/** AttributeProto of type INTS. */
function intsAttribute(name: string, values: number[]): (w: ProtoWriter) => void {
  return (w) =>
    w.message(5, (a) => {
      a.string(1, name).int(20, ATTRIBUTE_INTS);
      for (const v of values) a.int(8, v);
    });
}

/** AttributeProto of type FLOAT. */
function floatAttribute(name: string, value: number): (w: ProtoWriter) => void {
  return (w) => w.message(5, (a) => a.string(1, name).int(20, ATTRIBUTE_FLOAT).float(2, value));
}

/** A node's AttributeProto payloads, by name. */
function attributesOf(node: Node): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const raw of node.rest) {
    if (new ProtoReader(raw).varint() === 5 * 8 + 2) out.set(stringField(raw, 1), payload(raw));
  }
  return out;
}

/** An attribute's integers: `i`, or `ints` (packed or not); undefined when absent. */
function attributeInts(attribute: Uint8Array | undefined): number[] | undefined {
  if (!attribute) return undefined;
  const values: number[] = [];
  const r = new ProtoReader(attribute);
  r.fields((field, wire) => {
    // `i` (3), or `ints` (8).
    if (field === 3 && wire === 0) values.push(r.int64());
    else return field === 8 && repeated(r, wire, 0, (x) => values.push(x.int64()));
    return true;
  });
  return values;
}

/**
 * A TensorProto's (payload) type, element count, and data as written: `float_data` or
 * `int64_data` values, or `raw_data` bytes.
 */
function tensorData(
  tensor: Uint8Array,
): { type: number; count: number; listed: number[]; raw?: Uint8Array } {
  const { type, dims } = tensorDims(tensor);
  const count = dims.reduce((a, b) => a * b, 1);
  const listed: number[] = [];
  let raw: Uint8Array | undefined;
  const r = new ProtoReader(tensor);
  r.fields((field, wire) => {
    // float_data (4), int64_data (7), raw_data (9).
    if (field === 4) return repeated(r, wire, 5, (x) => listed.push(x.float32()));
    if (field === 7) return repeated(r, wire, 0, (x) => listed.push(x.int64()));
    if (field !== 9 || wire !== 2) return false;
    const s = r.sub();
    raw = tensor.subarray(s.pos, s.end);
    return true;
  });
  return { type, count, listed, raw };
}

/**
 * A float32 or int64 TensorProto's (payload) element count and values, from `float_data`,
 * `int64_data` or `raw_data`; undefined for other types or malformed raw data.
 */
function tensorValues(
  tensor: Uint8Array,
): { type: number; count: number; values: number[] } | undefined {
  const { type, count, listed, raw } = tensorData(tensor);
  const width = type === FLOAT ? 4 : type === INT64 ? 8 : 0;
  if (width === 0) return undefined;
  if (!raw) return listed.length === count ? { type, count, values: listed } : undefined;
  if (raw.length !== count * width) return undefined;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
  return {
    type,
    count,
    values: Array.from(
      { length: count },
      (_, i) => width === 4 ? view.getFloat32(i * 4, true) : Number(view.getBigInt64(i * 8, true)),
    ),
  };
}

/** The values of an int64 TensorProto (payload), else undefined. */
function int64Values(tensor: Uint8Array): number[] | undefined {
  const t = tensorValues(tensor);
  return t?.type === INT64 ? t.values : undefined;
}

/** The value of a one-element float32 TensorProto (payload), else undefined. */
function floatScalar(tensor: Uint8Array): number | undefined {
  const t = tensorValues(tensor);
  return t?.type === FLOAT && t.count === 1 ? t.values[0] : undefined;
}

/** The field `number` of a message payload, as a payload; undefined when absent. */
function messageField(bytes: Uint8Array, number: number): Uint8Array | undefined {
  let value: Uint8Array | undefined;
  const r = new ProtoReader(bytes);
  r.fields((field, wire) => {
    if (field !== number || wire !== 2) return false;
    const s = r.sub();
    value = bytes.subarray(s.pos, s.end);
    return true;
  });
  return value;
}

/** A TensorProto of `type` and `dims` (none: a scalar) holding `data` as raw_data. */
function tensorInitializer(
  name: string,
  type: number,
  dims: number[],
  data: Uint8Array,
): (w: ProtoWriter) => void {
  return (t) => {
    for (const d of dims) t.int(1, d);
    t.int(2, type).string(8, name).bytes(9, data);
  };
}

function scalarInt64Initializer(name: string, value: bigint): (w: ProtoWriter) => void {
  return tensorInitializer(name, INT64, [], new Uint8Array(BigInt64Array.of(value).buffer));
}

/** A float32 TensorProto's (payload) values as one array (for weights: no number[]). */
function floatData(tensor: Uint8Array): Float32Array | undefined {
  const { type, count, listed, raw } = tensorData(tensor);
  if (type !== FLOAT) return undefined;
  if (raw) return raw.length === count * 4 ? new Float32Array(raw.slice().buffer) : undefined;
  return listed.length === count ? Float32Array.from(listed) : undefined;
}

function int64Initializer(name: string, values: bigint[]): (w: ProtoWriter) => void {
  const data = new Uint8Array(BigInt64Array.from(values).buffer);
  return tensorInitializer(name, INT64, [values.length], data);
}

/** ValueInfoProto of a tensor with symbolic (string) or fixed (number) dims. */
function valueInfo(
  name: string,
  elemType: number,
  dims: (string | number)[],
): (w: ProtoWriter) => void {
  return (v) =>
    v.string(1, name).message(
      2,
      (type) =>
        type.message(1, (tensor) =>
          tensor.int(1, elemType).message(2, (shape) => {
            for (const d of dims) {
              shape.message(1, (dim) => typeof d === "number" ? dim.int(1, d) : dim.string(2, d));
            }
          })),
    );
}

/** ValueInfoProto of a tensor of unknown shape (a subgraph's output). */
function shapelessValueInfo(name: string, elemType: number): (w: ProtoWriter) => void {
  return (v) => v.string(1, name).message(2, (t) => t.message(1, (x) => x.int(1, elemType)));
}

/** The string field `number` of the message in a length-delimited field's raw bytes. */
function stringField(raw: Uint8Array, number: number): string {
  let value = "";
  const r = new ProtoReader(payload(raw));
  r.fields((field, wire) => {
    if (field !== number || wire !== 2) return false;
    value = r.string();
    return true;
  });
  return value;
}

/** ValueInfoProto.name. */
const valueInfoName = (raw: Uint8Array) => stringField(raw, 1);
/** TensorProto.name. */
const tensorName = (raw: Uint8Array) => stringField(raw, 8);

/** The raw TypeProto of a ValueInfoProto's field. */
function valueInfoType(raw: Uint8Array): Uint8Array {
  return messageField(payload(raw), 2) ?? new Uint8Array(0);
}

function defaultOpset(modelFields: Field[]): number {
  let version = 0;
  for (const f of modelFields.filter((f) => f.field === 8)) {
    let domain = "", v = 0;
    const r = new ProtoReader(payload(f.raw));
    r.fields((field, wire) => {
      if (field === 1 && wire === 2) domain = r.string();
      else if (field === 2 && wire === 0) v = r.varint();
      else return false;
      return true;
    });
    if (domain === "" || domain === "ai.onnx") version = v;
  }
  return version;
}

/**
 * Applies the `wanted` rewrites (default: all) where they are safe; see the module doc.
 * @throws {Error} when the bytes are not an ONNX model with a graph.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
 * const only = {
 *   fusedAttention: false,
 *   beamIdx: false,
 *   lastPositionLogits: false,
 *   topK: true,
 *   skipLayerNorm: false,
 *   screenedArgmax: false,
 *   gemmHead: false,
 * };
 * assertEquals(rewriteDecoder(bytes, only).applied, only);
 * ```
 */
export function rewriteDecoder(
  bytes: Uint8Array,
  wanted: DecoderRewrites = ALL,
): RewrittenDecoder {
  const modelFields = fieldsOf(bytes);
  const graphField = modelFields.find((f) => f.field === 7);
  if (!graphField) throw new Error("not an ONNX model: no graph (ModelProto field 7)");
  const graphFields = fieldsOf(payload(graphField.raw));
  const nodes = new Map<Field, Node>();
  for (const f of graphFields) if (f.field === 1) nodes.set(f, parseNode(f.raw));
  const inputNames = graphFields.filter((f) => f.field === 11).map((f) => valueInfoName(f.raw));
  const outputNames = graphFields.filter((f) => f.field === 12).map((f) => valueInfoName(f.raw));
  const initializerPayloads = new Map(
    graphFields.filter((f) => f.field === 5).map((f) => [tensorName(f.raw), payload(f.raw)]),
  );
  const initializerNames = new Set(initializerPayloads.keys());
  const all = [...nodes.values()];
  const opset = defaultOpset(modelFields);
  const hasSubgraphs = all.some((n) => SUBGRAPH_OPS.has(n.opType));
  const producer = new Map<string, Node>();
  const consumers = new Map<string, Node[]>();
  for (const n of all) {
    for (const o of n.outputs) producer.set(o, n);
    for (const i of n.inputs) consumers.get(i)?.push(n) ?? consumers.set(i, [n]);
  }
  const types = new Map(
    graphFields.filter((f) => f.field === 11).map((
      f,
    ) => [valueInfoName(f.raw), valueInfoType(f.raw)]),
  );

  const applied: DecoderRewrites = { ...NO_REWRITES };
  const before: ((w: ProtoWriter) => void)[] = [];
  const inserted = new Map<Node, Node[]>();
  const insert = (at: Node, node: Node) => {
    inserted.get(at)?.push(node) ?? inserted.set(at, [node]);
    all.push(node);
  };
  const after: ((w: ProtoWriter) => void)[] = [];
  const initializers: ((w: ProtoWriter) => void)[] = [];
  const dropped = new Set<string>();
  const inputs: ((w: ProtoWriter) => void)[] = [];
  const outputs: ((w: ProtoWriter) => void)[] = [];
  const hasLogits = outputNames.includes("logits");

  const past = inputNames.filter((n) => n.startsWith("past_key_values."));
  const layers = past.filter((n) => n.endsWith(".key")).length;
  const pastType = past.length > 0 ? tensorType(types.get(past[0])!) : undefined;
  const [, numHeads, , headSize] = pastType?.dims ?? [];
  const view: GraphView = {
    producer,
    consumers,
    outputs: new Set(outputNames),
    initializers: initializerPayloads,
    opset,
    heads: `${numHeads},${headSize}`,
  };
  // Nodes a rewrite left without a use go, and so do initializers no node reads any more.
  const dropUnused = () => {
    removeDeadNodes(all, new Set(outputNames));
    const used = new Set(all.filter((n) => !n.removed).flatMap((n) => n.inputs));
    for (const name of initializerNames) {
      if (!used.has(name) && !inputNames.includes(name)) dropped.add(name);
    }
  };
  if (
    wanted.fusedAttention && layers > 0 && !hasSubgraphs && pastType?.elemType === FLOAT &&
    typeof numHeads === "number" && numHeads > 0 && typeof headSize === "number"
  ) {
    const matches = Array.from({ length: layers }, (_, i) => matchAttention(view, i));
    if (matches.every((m) => m !== undefined)) {
      for (const m of matches as AttentionMatch[]) {
        for (const n of m.replaced) n.removed = true;
        let bias: string;
        if ("bias" in m.mask) bias = m.mask.bias;
        else {
          // The graph's own mask as an additive bias: whatever it masks (causal, padding) stays.
          bias = `${m.maskNode.outputs[0]}${ATTENTION_BIAS}`;
          const { cond, fill, fillWhere } = m.mask;
          insert(
            m.maskNode,
            nodeOf("Where", [cond, ...fillWhere ? [fill, ZERO] : [ZERO, fill]], [bias]),
          );
        }
        // Q, K and V split from one MatMul plus bias: the fused node adds the bias itself.
        const packed = splitBias(view, m);
        if (packed) {
          packed.add.removed = true;
          packed.split.inputs[0] = packed.product;
          packed.split.changed = true;
        }
        insert(
          m.mergeNode,
          nodeOf(
            "MultiHeadAttention",
            [m.query, m.key, m.value, packed?.bias ?? "", "", bias, m.pastKey, m.pastValue],
            [m.output, m.presentKey, m.presentValue],
            (w) => {
              intAttribute("num_heads", numHeads)(w);
              floatAttribute("scale", m.scale)(w);
            },
            MS_DOMAIN,
          ),
        );
      }
      if (matches.some((m) => m && !("bias" in m.mask))) {
        // [1, 1, 1, 1]: the bias broadcasts to the rank MultiHeadAttention wants.
        initializers.push(tensorInitializer(ZERO, FLOAT, [1, 1, 1, 1], new Uint8Array(4)));
      }
      dropUnused();
      applied.fusedAttention = true;
    }
  }

  if (wanted.skipLayerNorm && !hasSubgraphs) {
    const norms = all.filter((n) => n.opType === "ReduceMean" || n.opType === "LayerNormalization")
      .map((n) => matchNorm(view, n))
      .map((norm) => norm && matchSkipNorm(view, norm));
    for (const m of norms) {
      if (!m) continue;
      const replaced = [...m.norm.nodes, m.sum, ...m.biasAdd ? [m.biasAdd] : []];
      // A node an earlier fusion already took (norms sharing a sum) stays with that fusion.
      if (replaced.some((n) => n.removed)) continue;
      for (const n of replaced) n.removed = true;
      // The residual stream goes on past the norm: the fused node's fourth output carries it.
      const stream = m.sum.outputs[0];
      const goesOn = view.outputs.has(stream) ||
        usersOf(view, stream).some((n) => !replaced.includes(n));
      insert(
        m.sum,
        nodeOf(
          "SkipLayerNormalization",
          [m.input, m.skip, m.norm.gamma, m.norm.beta, ...m.bias ? [m.bias] : []],
          [m.norm.output, ...goesOn ? ["", "", stream] : []],
          floatAttribute("epsilon", m.norm.epsilon),
          MS_DOMAIN,
        ),
      );
      applied.skipLayerNorm = true;
    }
    if (applied.skipLayerNorm) dropUnused();
  }

  if (
    wanted.beamIdx && past.length > 0 && !hasSubgraphs &&
    !inputNames.includes(REWRITE_NAMES.beamIdx)
  ) {
    // One If over every layer: greedy steps (and beams that all continue themselves) pass the
    // cache through; only a real reorder pays for the Gathers' copies.
    const gathered = past.map((name) => `${name}/by_beam_idx`);
    for (const n of all) {
      n.inputs = n.inputs.map((i) => {
        const at = past.indexOf(i);
        return at < 0 ? i : (n.changed = true, gathered[at]);
      });
    }
    const branch = (name: string, op: "Gather" | "Identity") => (g: ProtoWriter) => {
      past.forEach((p, i) => {
        const inputs = op === "Gather" ? [p, REWRITE_NAMES.beamIdx] : [p];
        g.message(
          1,
          newNode(
            op,
            inputs,
            [`${name}/${i}`],
            op === "Gather" ? intAttribute("axis", 0) : undefined,
          ),
        );
      });
      g.string(2, name);
      past.forEach((p, i) =>
        g.message(12, (v) => v.string(1, `${name}/${i}`).bytes(2, types.get(p)!))
      );
    };
    before.push(newNode("If", [REWRITE_NAMES.reorder], gathered, (w) => {
      w.message(
        5,
        (a) => a.string(1, "then_branch").int(20, 5).message(6, branch("reorder", "Gather")),
      );
      w.message(
        5,
        (a) => a.string(1, "else_branch").int(20, 5).message(6, branch("keep", "Identity")),
      );
    }));
    inputs.push(valueInfo(REWRITE_NAMES.reorder, BOOL, [1]));
    inputs.push(valueInfo(REWRITE_NAMES.beamIdx, INT64, ["beam_rows"]));
    applied.beamIdx = true;
  }

  if (wanted.lastPositionLogits && hasLogits && opset >= 10 && !hasSubgraphs) {
    const head = lmHead(producer, initializerNames);
    const sliced = head && producer.get(head.inputs[0])?.outputs[0].endsWith(LAST_POSITION);
    if (head && !sliced && !inputNames.includes("num_logits_to_keep")) {
      const last = `${head.inputs[0]}${LAST_POSITION}`;
      const range = ["rewrite/minus_one", "rewrite/int64_max", "rewrite/one"];
      insert(head, nodeOf("Slice", [head.inputs[0], ...range], [last]));
      initializers.push(
        MINUS_ONE,
        int64Initializer("rewrite/int64_max", [2n ** 63n - 1n]),
        int64Initializer("rewrite/one", [1n]),
      );
      head.inputs = [last, ...head.inputs.slice(1)];
      head.changed = true;
      applied.lastPositionLogits = true;
    }
  }

  if (
    wanted.screenedArgmax && applied.lastPositionLogits && opset >= 11 &&
    !inputNames.includes(REWRITE_NAMES.screen)
  ) {
    const head = lmHead(producer, initializerNames)!;
    const tied = tiedHead(view, head, all);
    if (tied) {
      const { weight, table, hidden, vocab } = tied;
      const screen = screenHead(weight, hidden, vocab);
      const c = (name: string) => `rewrite/screen/${name}`;
      const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      initializers.push(
        tensorInitializer(c("quantized"), UINT8, [hidden, vocab], screen.quantized),
        tensorInitializer(c("zero_point"), UINT8, [], Uint8Array.of(128)),
        tensorInitializer(c("scale"), FLOAT, [vocab], bytesOf(screen.scale)),
        tensorInitializer(c("max_error"), FLOAT, [vocab], bytesOf(screen.maxError)),
        tensorInitializer(c("abs_sum"), FLOAT, [vocab], bytesOf(screen.absSum)),
        tensorInitializer(c("ones"), FLOAT, [hidden, 1], bytesOf(new Float32Array(hidden).fill(1))),
        tensorInitializer(c("relative"), FLOAT, [], bytesOf(Float32Array.of(SCREEN_RELATIVE))),
        tensorInitializer(c("absolute"), FLOAT, [], bytesOf(Float32Array.of(SCREEN_ABSOLUTE))),
        tensorInitializer(c("minus_inf"), FLOAT, [1], bytesOf(Float32Array.of(-Infinity))),
        int64Initializer(c("rows_by_hidden"), [-1n, BigInt(hidden)]),
        int64Initializer(c("rows_by_one_by_vocab"), [-1n, 1n, BigInt(vocab)]),
        int64Initializer(c("flat"), [-1n]),
        int64Initializer(c("k"), [1n]),
        int64Initializer(c("none"), [-1n]),
        scalarInt64Initializer(c("row_axis"), 0n),
        scalarInt64Initializer(c("token_axis"), 1n),
      );
      const n = (
        op: string,
        inputs: string[],
        outputs: string[],
        attributes?: (w: ProtoWriter) => void,
      ) =>
        nodeOf(
          op,
          inputs.map((i) => i.startsWith("@") ? c(i.slice(1)) : i),
          outputs.map(c),
          attributes,
        );
      const lastAxis = intAttribute("axis", -1);
      const screened = [
        n("Reshape", [head.inputs[0], "@rows_by_hidden"], ["x"]),
        n("DynamicQuantizeLinear", ["@x"], ["xq", "x_scale", "x_zero_point"]),
        n("MatMulInteger", ["@xq", "@quantized", "@x_zero_point", "@zero_point"], ["product"]),
        n("Cast", ["@product"], ["product_float"], intAttribute("to", FLOAT)),
        n("Mul", ["@scale", "@x_scale"], ["column_scale"]),
        n("Mul", ["@product_float", "@column_scale"], ["approx"]),
        // The bound: max|x − x̂| · Σ|W| + Σ|x̂| · max|W − Ŵ| (see int8_screen.ts), plus rounding.
        n("DequantizeLinear", ["@xq", "@x_scale", "@x_zero_point"], ["x_hat"]),
        n("Sub", ["@x", "@x_hat"], ["x_error"]),
        n("Abs", ["@x_error"], ["x_error_abs"]),
        n("TopK", ["@x_error_abs", "@k"], ["x_error_max", "x_error_at"], lastAxis),
        n("Abs", ["@x_hat"], ["x_hat_abs"]),
        n("MatMul", ["@x_hat_abs", "@ones"], ["x_hat_l1"]),
        n("Mul", ["@x_error_max", "@abs_sum"], ["from_x"]),
        n("Mul", ["@x_hat_l1", "@max_error"], ["from_w"]),
        n("Add", ["@from_x", "@from_w"], ["bound_terms"]),
        n("Abs", ["@approx"], ["approx_abs"]),
        n("Mul", ["@approx_abs", "@relative"], ["approx_rounding"]),
        n("Add", ["@bound_terms", "@approx_rounding"], ["bound_rounded"]),
        n("Add", ["@bound_rounded", "@absolute"], ["bound"]),
        n("Sub", ["@approx", "@bound"], ["lower"]),
        n("Add", ["@approx", "@bound"], ["upper"]),
        n("TopK", ["@lower", "@k"], ["best_lower", "best_lower_at"], lastAxis),
        // Candidates: every token whose upper bound reaches the row's best lower bound.
        n("Less", ["@upper", "@best_lower"], ["ruled_out"]),
        n("Not", ["@ruled_out"], ["candidate"]),
        n("NonZero", ["@candidate"], ["candidates"]),
        n("Transpose", ["@candidates"], ["candidate_pairs"], intsAttribute("perm", [1, 0])),
        n("Gather", ["@candidates", "@row_axis"], ["candidate_rows"], intAttribute("axis", 0)),
        n("Gather", ["@candidates", "@token_axis"], ["candidate_tokens"], intAttribute("axis", 0)),
        n("Gather", ["@x", "@candidate_rows"], ["candidate_x"], intAttribute("axis", 0)),
        n("Gather", [table, "@candidate_tokens"], ["candidate_w"], intAttribute("axis", 0)),
        n("Mul", ["@candidate_x", "@candidate_w"], ["candidate_terms"]),
        n("MatMul", ["@candidate_terms", "@ones"], ["candidate_sums"]),
        n("Reshape", ["@candidate_sums", "@flat"], ["candidate_logits"]),
        n("Shape", ["@approx"], ["approx_shape"]),
        n("Expand", ["@minus_inf", "@approx_shape"], ["ruled_out_logits"]),
        n("ScatterND", ["@ruled_out_logits", "@candidate_pairs", "@candidate_logits"], [
          "screened_logits",
        ]),
        n("Reshape", ["@screened_logits", "@rows_by_one_by_vocab"], ["screened"]),
        n("Shape", ["@candidate_tokens"], ["candidate_count"]),
      ];
      const full = [
        n("MatMul", head.inputs, ["full"]),
        n("Identity", ["@none"], ["no_candidates"]),
      ];
      const branch = (name: string, nodes: Node[], outs: string[]) => (g: ProtoWriter) => {
        for (const node of nodes) g.message(1, (w) => encodeNode(w, node));
        g.string(2, name);
        for (const [i, o] of outs.entries()) {
          g.message(12, shapelessValueInfo(o, i === 0 ? FLOAT : INT64));
        }
      };
      head.removed = true;
      insert(
        head,
        nodeOf(
          "If",
          [REWRITE_NAMES.screen],
          [head.outputs[0], REWRITE_NAMES.screenedCandidates],
          (w) => {
            w.message(5, (a) =>
              a.string(1, "then_branch").int(20, ATTRIBUTE_GRAPH).message(
                6,
                branch("screened", screened, [c("screened"), c("candidate_count")]),
              ));
            w.message(5, (a) =>
              a.string(1, "else_branch").int(20, ATTRIBUTE_GRAPH).message(
                6,
                branch("full", full, [c("full"), c("no_candidates")]),
              ));
          },
        ),
      );
      inputs.push(valueInfo(REWRITE_NAMES.screen, BOOL, [1]));
      outputs.push(valueInfo(REWRITE_NAMES.screenedCandidates, INT64, [1]));
      applied.screenedArgmax = true;
    }
  }

  if (wanted.gemmHead && applied.lastPositionLogits && !applied.screenedArgmax && opset >= 11) {
    const head = lmHead(producer, initializerNames)!;
    const found = headTable(view, head, all);
    if (found) {
      const { table, hidden, vocab } = found;
      const rows = `${head.inputs[0]}/rows`, logitRows = `${head.outputs[0]}/rows`;
      initializers.push(
        int64Initializer("rewrite/head_rows", [-1n, BigInt(hidden)]),
        int64Initializer("rewrite/head_logits", [-1n, 1n, BigInt(vocab)]),
      );
      insert(head, nodeOf("Reshape", [head.inputs[0], "rewrite/head_rows"], [rows]));
      insert(head, nodeOf("Gemm", [rows, table], [logitRows], intAttribute("transB", 1)));
      insert(head, nodeOf("Reshape", [logitRows, "rewrite/head_logits"], [head.outputs[0]]));
      head.removed = true;
      dropUnused();
      applied.gemmHead = true;
    }
  }

  if (wanted.topK && hasLogits && opset >= 11 && !outputNames.includes(REWRITE_NAMES.topTokens)) {
    // Ranked by the logits themselves, as an argmax over them ranks (log_softmax rounds, and
    // could tie two logits one ulp apart); their log-probabilities are read from LogSoftmax
    // (one fused kernel: ReduceLogSumExp took several times as long on onnxruntime's CPU).
    after.push(
      newNode("Cast", ["logits"], ["rewrite/logits_float"], intAttribute("to", FLOAT)),
      newNode("TopK", ["rewrite/logits_float", REWRITE_NAMES.topK], [
        "rewrite/top_logits",
        REWRITE_NAMES.topTokens,
      ], (w) => {
        intAttribute("axis", -1)(w);
        intAttribute("largest", 1)(w);
        intAttribute("sorted", 1)(w);
      }),
      // Before opset 13 LogSoftmax flattens to 2-D at `axis`; at the last axis that is the same.
      newNode(
        "LogSoftmax",
        ["rewrite/logits_float"],
        ["rewrite/log_softmax"],
        intAttribute("axis", -1),
      ),
      newNode(
        "GatherElements",
        ["rewrite/log_softmax", REWRITE_NAMES.topTokens],
        [REWRITE_NAMES.topLogProbs],
        intAttribute("axis", -1),
      ),
    );
    inputs.push(valueInfo(REWRITE_NAMES.topK, INT64, [1]));
    outputs.push(
      valueInfo(REWRITE_NAMES.topLogProbs, FLOAT, ["rows", "positions", "k"]),
      valueInfo(REWRITE_NAMES.topTokens, INT64, ["rows", "positions", "k"]),
    );
    applied.topK = true;
  }

  if (!Object.values(applied).some((a) => a)) return { bytes, applied };
  const graph = new ProtoWriter();
  for (const make of before) graph.message(1, make);
  for (const f of graphFields) {
    const node = nodes.get(f);
    for (const made of (node && inserted.get(node)) ?? []) {
      graph.message(1, (w) => encodeNode(w, made));
    }
    // Left out: nodes a fused one replaced, initializers no node reads any more.
    const left = node?.removed || (f.field === 5 && dropped.has(tensorName(f.raw)));
    if (!left) {
      if (node?.changed) graph.message(1, (w) => encodeNode(w, node));
      else graph.raw(f.raw);
    }
    // New nodes follow the last node; new inputs, outputs and initializers follow their kind.
    if (f.field === 1 && f === lastOf(graphFields, 1)) {
      for (const make of after) graph.message(1, make);
    }
    if (f.field === 5 && f === lastOf(graphFields, 5)) {
      for (const make of initializers) graph.message(5, make);
    }
    if (f.field === 11 && f === lastOf(graphFields, 11)) {
      for (const make of inputs) graph.message(11, make);
    }
    if (f.field === 12 && f === lastOf(graphFields, 12)) {
      for (const make of outputs) graph.message(12, make);
    }
  }
  if (!graphFields.some((f) => f.field === 5)) {
    for (const make of initializers) graph.message(5, make);
  }
  const model = new ProtoWriter();
  const lastOpset = lastOf(modelFields, 8);
  for (const f of modelFields) {
    if (f === graphField) model.bytes(7, graph.finish());
    else model.raw(f.raw);
    const microsoftOps = applied.fusedAttention || applied.skipLayerNorm;
    if (f === lastOpset && microsoftOps && !hasOpset(modelFields, MS_DOMAIN)) {
      model.message(8, (o) => o.string(1, MS_DOMAIN).int(2, 1));
    }
  }
  return { bytes: model.finish(), applied };
}

/** Marks every node none of whose outputs is used (or a graph output) removed, until none is. */
function removeDeadNodes(nodes: Node[], graphOutputs: Set<string>): void {
  for (;;) {
    const used = new Set(graphOutputs);
    for (const n of nodes) if (!n.removed) { for (const i of n.inputs) used.add(i); }
    const dead = nodes.filter((n) => !n.removed && !n.outputs.some((o) => used.has(o)));
    if (dead.length === 0) return;
    for (const n of dead) n.removed = true;
  }
}

function hasOpset(modelFields: Field[], domain: string): boolean {
  return modelFields.some((f) => f.field === 8 && stringField(f.raw, 1) === domain);
}

function lastOf(fields: Field[], field: number): Field | undefined {
  return fields.findLast((f) => f.field === field);
}

/**
 * The `MatMul` computing `logits` (through `Cast`s), when its weight is a constant (an
 * initializer, or a `Transpose` of one): then it computes every position independently.
 */
function lmHead(producer: Map<string, Node>, initializers: Set<string>): Node | undefined {
  let node = producer.get("logits");
  while (node?.opType === "Cast") node = producer.get(node.inputs[0]);
  if (node?.opType !== "MatMul") return undefined;
  const weight = node.inputs[1];
  if (initializers.has(weight)) return node;
  const transpose = producer.get(weight);
  return transpose?.opType === "Transpose" && initializers.has(transpose.inputs[0])
    ? node
    : undefined;
}

/**
 * The `[vocab, hidden]` float32 table the LM head's weight transposes: the initializer a
 * `Transpose` feeding the head reads, or an embedding table a `Gather` reads that equals the
 * head's `[hidden, vocab]` initializer transposed, bit for bit (tied embeddings); else undefined.
 */
function headTable(
  view: GraphView,
  head: Node,
  nodes: Node[],
): { table: string; hidden: number; vocab: number; weight?: Float32Array } | undefined {
  const transpose = view.producer.get(head.inputs[1]);
  const source = transpose?.opType === "Transpose" ? transpose.inputs[0] : head.inputs[1];
  const tensor = view.initializers.get(source);
  const { type, dims } = tensor ? tensorDims(tensor) : { type: 0, dims: [] };
  if (!tensor || type !== FLOAT || dims.length !== 2) return undefined;
  if (transpose?.opType === "Transpose") {
    const perm = attributeInts(attributesOf(transpose).get("perm"));
    if (perm && perm.join() !== "1,0") return undefined;
    const [vocab, hidden] = dims;
    return { table: source, hidden, vocab };
  }
  const [hidden, vocab] = dims;
  const weight = floatData(tensor);
  if (!weight) return undefined;
  for (const gather of nodes) {
    if (gather.opType !== "Gather" || gather.removed) continue;
    const t = view.initializers.get(gather.inputs[0]);
    const td = t && tensorDims(t);
    if (!td || td.type !== FLOAT || td.dims.join() !== `${vocab},${hidden}`) continue;
    const rows = floatData(t);
    if (rows && isTranspose(weight, rows, hidden, vocab)) {
      return { table: gather.inputs[0], hidden, vocab, weight };
    }
  }
  return undefined;
}

/**
 * The LM head's float32 weight `[hidden, vocab]` and the `[vocab, hidden]` table holding its
 * transpose ({@linkcode headTable}), when there is one; else undefined.
 */
function tiedHead(
  view: GraphView,
  head: Node,
  nodes: Node[],
): { weight: Float32Array; table: string; hidden: number; vocab: number } | undefined {
  const found = headTable(view, head, nodes);
  if (!found) return undefined;
  const { table, hidden, vocab } = found;
  if (found.weight) return { weight: found.weight, table, hidden, vocab };
  const rows = floatData(view.initializers.get(table)!);
  if (!rows) return undefined;
  const weight = new Float32Array(hidden * vocab);
  for (let v = 0; v < vocab; v++) {
    for (let d = 0; d < hidden; d++) weight[d * vocab + v] = rows[v * hidden + d];
  }
  return { weight, table, hidden, vocab };
}

/** Whether `rows` (`[vocab, hidden]`) is `weight` (`[hidden, vocab]`) transposed, bit for bit. */
function isTranspose(weight: Float32Array, rows: Float32Array, hidden: number, vocab: number) {
  const a = new Uint32Array(weight.buffer, weight.byteOffset, weight.length);
  const b = new Uint32Array(rows.buffer, rows.byteOffset, rows.length);
  for (let v = 0; v < vocab; v++) {
    for (let d = 0; d < hidden; d++) if (a[d * vocab + v] !== b[v * hidden + d]) return false;
  }
  return true;
}

/** What the attention matcher reads of the graph. */
interface GraphView {
  producer: Map<string, Node>;
  consumers: Map<string, Node[]>;
  outputs: Set<string>;
  /** TensorProto payloads by name. */
  initializers: Map<string, Uint8Array>;
  opset: number;
  /** The cache's heads and head size, `"heads,size"`. */
  heads: string;
}

/** One layer's attention, matched: what the fused node reads and writes, what it replaces. */
interface AttentionMatch {
  query: string;
  key: string;
  value: string;
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
  /** The merged heads, `[rows, positions, hidden]`: the fused node's first output. */
  output: string;
  scale: number;
  /** The additive mask: a tensor of the graph, or a `Where` to build from the graph's. */
  mask: { bias: string } | { cond: string; fill: string; fillWhere: boolean };
  /** Where the mask's node was (the bias is built there) and where the merge was. */
  maskNode: Node;
  mergeNode: Node;
  replaced: Node[];
}

/** The nodes reading `name`. */
function usersOf(view: GraphView, name: string): Node[] {
  return view.consumers.get(name) ?? [];
}

/** The one node reading `name`, when it is an `op` and `name` is not a graph output. */
function soleUser(view: GraphView, name: string, op: string): Node | undefined {
  const u = usersOf(view, name);
  return u.length === 1 && u[0].opType === op && !view.outputs.has(name) ? u[0] : undefined;
}

/** The TensorProto payload a name holds when it is a constant (initializer or `Constant`). */
function constantTensor(view: GraphView, name: string): Uint8Array | undefined {
  const initializer = view.initializers.get(name);
  if (initializer) return initializer;
  const node = view.producer.get(name);
  const value = node?.opType === "Constant" ? attributesOf(node).get("value") : undefined;
  return value && messageField(value, 5);
}

/** The scalar float a name holds when it is a constant (a tensor, or `value_float`). */
function constantFloat(view: GraphView, name: string): number | undefined {
  const tensor = constantTensor(view, name);
  if (tensor) return floatScalar(tensor);
  const node = view.producer.get(name);
  if (node?.opType !== "Constant") return undefined;
  return attributeFloat(attributesOf(node).get("value_float"));
}

/** An attribute's float (`f`); undefined when absent. */
function attributeFloat(attribute: Uint8Array | undefined): number | undefined {
  let value: number | undefined;
  if (attribute) {
    const r = new ProtoReader(attribute);
    r.fields((field, wire) => field === 2 && wire === 5 && (value = r.float32(), true));
  }
  return value;
}

/**
 * The heads and head size a `Reshape` splits the hidden size into: the last two entries of its
 * shape, when they are constants (the whole shape, or the `Concat` torch.onnx builds it with),
 * as `"heads,size"`.
 */
function reshapeHeads(view: GraphView, reshape: Node): string | undefined {
  // A constant, or an `Unsqueeze` of one (how exports without constant folding build shapes).
  const ints = (name: string): number[] | undefined => {
    const t = constantTensor(view, name);
    if (t) return int64Values(t);
    const unsqueeze = view.producer.get(name);
    return unsqueeze?.opType === "Unsqueeze" ? ints(unsqueeze.inputs[0]) : undefined;
  };
  const whole = ints(reshape.inputs[1]);
  if (whole) return whole.length === 4 ? whole.slice(2).join() : undefined;
  const concat = view.producer.get(reshape.inputs[1]);
  if (concat?.opType !== "Concat" || concat.inputs.length !== 4) return undefined;
  const [heads, size] = [ints(concat.inputs[2]), ints(concat.inputs[3])];
  return heads?.length === 1 && size?.length === 1 ? `${heads[0]},${size[0]}` : undefined;
}

/**
 * Matches one layer's attention as `torch.onnx` exports GPT-2-style blocks (the embedded
 * model, optimum's GPT-2): heads split by `Reshape` + `Transpose(0,2,1,3)`, the cache
 * `Concat`ed on axis 2 into `present.*`, `MatMul(Q, Transpose(K))` scaled by a constant, one
 * mask (`Where` with a fill of at most −10⁴, or an `Add`), `Softmax` on the last axis,
 * `MatMul` by V, heads merged by `Transpose` + `Reshape`; every intermediate used only there.
 */
function matchAttention(view: GraphView, layer: number): AttentionMatch | undefined {
  const users = (name: string) => usersOf(view, name);
  const sole = (name: string, op: string) => soleUser(view, name, op);
  const perm = (node: Node) => attributeInts(attributesOf(node).get("perm"))?.join();
  // Q, K and V each split into the cache's heads and head size: MultiHeadAttention has one
  // head count, so multi-query or grouped-query attention (fewer K/V heads) is left alone.
  const heads = (name: string) => {
    const t = view.producer.get(name);
    if (t?.opType !== "Transpose" || perm(t) !== "0,2,1,3" || users(name).length !== 1) return;
    const r = view.producer.get(t.inputs[0]);
    return r?.opType === "Reshape" && sole(r.outputs[0], "Transpose") === t &&
        reshapeHeads(view, r) === view.heads
      ? { input: r.inputs[0], nodes: [r, t] }
      : undefined;
  };
  const pastKey = `past_key_values.${layer}.key`, pastValue = `past_key_values.${layer}.value`;
  const presentKey = `present.${layer}.key`, presentValue = `present.${layer}.value`;
  const concat = (present: string, past: string) => {
    const c = view.producer.get(present);
    const axis = c && attributeInts(attributesOf(c).get("axis"))?.[0];
    return c?.opType === "Concat" && c.inputs.length === 2 && c.inputs[0] === past &&
        (axis === 2 || axis === -2)
      ? c
      : undefined;
  };
  const catK = concat(presentKey, pastKey), catV = concat(presentValue, pastValue);
  const k = catK && heads(catK.inputs[1]), v = catV && heads(catV.inputs[1]);
  if (!catK || !catV || !k || !v) return;
  const [kt] = users(presentKey);
  if (users(presentKey).length !== 1 || kt.opType !== "Transpose" || perm(kt) !== "0,1,3,2") {
    return;
  }
  const scores = sole(kt.outputs[0], "MatMul");
  if (scores?.inputs[1] !== kt.outputs[0]) return;
  const q = heads(scores.inputs[0]);
  const [scaling] = users(scores.outputs[0]);
  if (!q || users(scores.outputs[0]).length !== 1 || scaling.inputs[0] !== scores.outputs[0]) {
    return;
  }
  const factor = constantFloat(view, scaling.inputs[1]);
  if (factor === undefined || factor === 0 || !["Div", "Mul"].includes(scaling.opType)) return;
  const scaled = scaling.outputs[0];
  const [maskNode] = users(scaled);
  if (users(scaled).length !== 1 || view.outputs.has(scaled)) return;
  let mask: AttentionMatch["mask"];
  if (maskNode.opType === "Add" && maskNode.inputs.length === 2) {
    mask = { bias: maskNode.inputs[maskNode.inputs[0] === scaled ? 1 : 0] };
  } else if (maskNode.opType === "Where" && maskNode.inputs.includes(scaled)) {
    const fillWhere = maskNode.inputs[2] === scaled;
    const fill = maskNode.inputs[fillWhere ? 1 : 2];
    const fillValue = constantFloat(view, fill);
    if (fill === scaled || fillValue === undefined || !(fillValue <= MASK_FILL_MAX)) return;
    mask = { cond: maskNode.inputs[0], fill, fillWhere };
  } else return;
  const softmax = sole(maskNode.outputs[0], "Softmax");
  const axis = softmax && attributeInts(attributesOf(softmax).get("axis"))?.[0];
  if (!softmax || !(axis === -1 || axis === 3 || (axis === undefined && view.opset >= 13))) return;
  const weighted = sole(softmax.outputs[0], "MatMul");
  if (weighted?.inputs[1] !== presentValue || users(presentValue).length !== 1) return;
  const merge = sole(weighted.outputs[0], "Transpose");
  const reshape = merge && perm(merge) === "0,2,1,3" && sole(merge.outputs[0], "Reshape");
  if (!reshape) return;
  return {
    query: q.input,
    key: k.input,
    value: v.input,
    pastKey,
    pastValue,
    presentKey,
    presentValue,
    output: reshape.outputs[0],
    scale: scaling.opType === "Div" ? 1 / factor : factor,
    mask,
    maskNode,
    mergeNode: reshape,
    replaced: [
      catK,
      catV,
      ...k.nodes,
      ...v.nodes,
      ...q.nodes,
      kt,
      scores,
      scaling,
      maskNode,
      softmax,
      weighted,
      merge,
      reshape,
    ],
  };
}

/**
 * Q, K and V as the three equal parts of one `Split` (on the last axis) of a `MatMul` plus a
 * bias vector, as GPT-2's `c_attn` makes them; that `Add` read only by the `Split`.
 */
function splitBias(
  view: GraphView,
  m: AttentionMatch,
): { split: Node; add: Node; product: string; bias: string } | undefined {
  const split = view.producer.get(m.query);
  if (split?.opType !== "Split" || split.outputs.join() !== [m.query, m.key, m.value].join()) {
    return;
  }
  const attributes = attributesOf(split);
  const axis = attributeInts(attributes.get("axis"))?.[0] ?? 0;
  const sizesTensor = split.inputs[1] ? constantTensor(view, split.inputs[1]) : undefined;
  const sizes = split.inputs[1]
    ? sizesTensor && int64Values(sizesTensor)
    : attributeInts(attributes.get("split")) ?? [];
  const add = view.producer.get(split.inputs[0]);
  if ((axis !== -1 && axis !== 2) || !sizes || add?.opType !== "Add") return;
  if (soleUser(view, add.outputs[0], "Split") !== split) return;
  const bias = add.inputs.find((i) => {
    const length = vectorLength(view, i);
    return length !== undefined && length % 3 === 0 && length >= 3 &&
      sizes.every((size) => size * 3 === length);
  });
  const product = add.inputs.find((i) => view.producer.get(i)?.opType === "MatMul");
  return bias && product && bias !== product ? { split, add, product, bias } : undefined;
}

/** A TensorProto's (payload) element type (`data_type`, 2) and dims (1). */
function tensorDims(tensor: Uint8Array): { type: number; dims: number[] } {
  let type = 0;
  const dims: number[] = [];
  const r = new ProtoReader(tensor);
  r.fields((field, wire) => {
    if (field === 1) return repeated(r, wire, 0, (x) => dims.push(x.int64()));
    if (field !== 2 || wire !== 0) return false;
    type = r.varint();
    return true;
  });
  return { type, dims };
}

/**
 * A repeated scalar field's values at `r`: packed (wire type 2) or one value of wire type
 * `single`; false (skip it) for any other wire type.
 */
function repeated(
  r: ProtoReader,
  wire: number,
  single: number,
  read: (x: ProtoReader) => void,
): boolean {
  if (wire === single) read(r);
  else if (wire === 2) {
    const s = r.sub();
    while (s.pos < s.end) read(s);
  } else return false;
  return true;
}

/**
 * A float32 initializer's length when it is one-dimensional, else undefined; through
 * `Identity` nodes, which torch.onnx uses to share identical initializers (an untrained model's
 * norms, all ones and zeros).
 */
function vectorLength(view: GraphView, name: string): number | undefined {
  let tensor = view.initializers.get(name);
  for (let n = view.producer.get(name); !tensor && n?.opType === "Identity";) {
    tensor = view.initializers.get(n.inputs[0]);
    n = view.producer.get(n.inputs[0]);
  }
  const t = tensor && tensorDims(tensor);
  return t?.type === FLOAT && t.dims.length === 1 ? t.dims[0] : undefined;
}

/** A layer norm over the last axis with constant float32 scale and shift, matched. */
interface NormMatch {
  /** What it normalises. */
  input: string;
  /** The normalised tensor. */
  output: string;
  gamma: string;
  /** The shift, `""` when it has none. */
  beta: string;
  epsilon: number;
  nodes: Node[];
}

/**
 * A layer norm starting at `start`: a `LayerNormalization` on the last axis whose mean and
 * inverse-deviation outputs go unused, or the form torch.onnx exports `nn.LayerNorm` in before
 * opset 17 (`ReduceMean`, `Sub`, `Pow` 2, `ReduceMean`, `Add` ε, `Sqrt`, `Div`, `Mul` γ,
 * `Add` β, the means on the last axis, every intermediate used only there).
 */
function matchNorm(view: GraphView, start: Node): NormMatch | undefined {
  const sole = (name: string, op: string) => soleUser(view, name, op);
  const attributes = attributesOf(start);
  if (start.opType === "LayerNormalization") {
    const axis = attributeInts(attributes.get("axis"))?.[0] ?? -1;
    const unused = start.outputs.slice(1).every((o) =>
      !o || (usersOf(view, o).length === 0 && !view.outputs.has(o))
    );
    const [input, gamma, beta = ""] = start.inputs;
    const length = vectorLength(view, gamma);
    if (axis !== -1 || !unused || length === undefined) return;
    if (beta && vectorLength(view, beta) !== length) return;
    const epsilon = attributeFloat(attributes.get("epsilon")) ?? 1e-5;
    return { input, output: start.outputs[0], gamma, beta, epsilon, nodes: [start] };
  }
  const lastAxisMean = (n: Node) => {
    const a = attributesOf(n);
    return n.opType === "ReduceMean" && n.inputs.length === 1 &&
      attributeInts(a.get("axes"))?.join() === "-1" &&
      (attributeInts(a.get("keepdims"))?.[0] ?? 1) === 1;
  };
  if (!lastAxisMean(start)) return;
  const input = start.inputs[0];
  const sub = sole(start.outputs[0], "Sub");
  if (sub?.inputs[0] !== input || sub.inputs[1] !== start.outputs[0]) return;
  const centred = usersOf(view, sub.outputs[0]);
  const pow = centred.find((n) => n.opType === "Pow");
  const div = centred.find((n) => n.opType === "Div");
  if (centred.length !== 2 || !pow || !div || view.outputs.has(sub.outputs[0])) return;
  if (pow.inputs[0] !== sub.outputs[0] || constantFloat(view, pow.inputs[1]) !== 2) return;
  const variance = sole(pow.outputs[0], "ReduceMean");
  if (!variance || !lastAxisMean(variance)) return;
  const plusEps = sole(variance.outputs[0], "Add");
  const epsilon = plusEps && constantFloat(view, plusEps.inputs[1]);
  const sqrt = plusEps && sole(plusEps.outputs[0], "Sqrt");
  if (epsilon === undefined || !sqrt || sole(sqrt.outputs[0], "Div") !== div) return;
  if (div.inputs[0] !== sub.outputs[0]) return;
  const scale = sole(div.outputs[0], "Mul");
  const shift = scale && sole(scale.outputs[0], "Add");
  if (!scale || !shift) return;
  const gamma = scale.inputs.find((i) => i !== div.outputs[0]) ?? "";
  const beta = shift.inputs.find((i) => i !== scale.outputs[0]) ?? "";
  const length = vectorLength(view, gamma);
  if (length === undefined || vectorLength(view, beta) !== length) return;
  return {
    input,
    output: shift.outputs[0],
    gamma,
    beta,
    epsilon,
    nodes: [start, sub, pow, variance, plusEps, sqrt, div, scale, shift],
  };
}

/** A residual sum and the layer norm over it, matched for one `SkipLayerNormalization`. */
interface SkipNormMatch {
  norm: NormMatch;
  /** The residual `Add`, and the bias `Add` folded into the fused node. */
  sum: Node;
  biasAdd?: Node;
  /** The sublayer's output (a `MatMul`'s, before its bias) and the residual stream. */
  input: string;
  skip: string;
  bias: string;
}

/**
 * The residual sum a layer norm reads, when one side of it is a sublayer's output: a `MatMul`,
 * or a `MatMul` plus a bias vector the size of the norm's (that `Add` read only here). A
 * `MatMul` of the stream has the stream's full shape, which `SkipLayerNormalization` needs of
 * both its inputs (so an embedding sum, which may broadcast, is left alone).
 */
function matchSkipNorm(view: GraphView, norm: NormMatch): SkipNormMatch | undefined {
  const sum = view.producer.get(norm.input);
  if (sum?.opType !== "Add" || sum.inputs.length !== 2) return;
  const length = vectorLength(view, norm.gamma);
  for (const side of [1, 0]) {
    const [branch, skip] = [sum.inputs[side], sum.inputs[1 - side]];
    const producer = view.producer.get(branch);
    if (producer?.opType === "MatMul") return { norm, sum, input: branch, skip, bias: "" };
    if (producer?.opType !== "Add" || soleUser(view, branch, "Add") !== sum) continue;
    const bias = producer.inputs.find((i) => vectorLength(view, i) === length);
    const matmul = producer.inputs.find((i) => view.producer.get(i)?.opType === "MatMul");
    if (bias && matmul && bias !== matmul) {
      return { norm, sum, biasAdd: producer, input: matmul, skip, bias };
    }
  }
  return undefined;
}

/** TypeProto's tensor element type and dims (numbers, or names for symbolic ones). */
function tensorType(type: Uint8Array): { elemType: number; dims: (number | string)[] } {
  let elemType = 0;
  const dims: (number | string)[] = [];
  const tensor = messageField(type, 1) ?? new Uint8Array(0);
  const r = new ProtoReader(tensor);
  r.fields((field, wire) => {
    if (field === 1 && wire === 0) elemType = r.varint();
    else if (field === 2 && wire === 2) {
      const shape = r.sub();
      shape.fields((f, w) => {
        if (f !== 1 || w !== 2) return false;
        const dim = shape.sub();
        let value: number | string = "?";
        dim.fields((df, dw) => {
          if (df === 1 && dw === 0) value = dim.int64();
          else if (df === 2 && dw === 2) value = dim.string();
          else return false;
          return true;
        });
        dims.push(value);
        return true;
      });
    } else return false;
    return true;
  });
  return { elemType, dims };
}

/**
 * The applied rewrites in words, for a log line.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(
 *   describeRewrites({
 *     fusedAttention: true,
 *     beamIdx: true,
 *     lastPositionLogits: false,
 *     topK: true,
 *     skipLayerNorm: true,
 *     screenedArgmax: false,
 *     gemmHead: false,
 *   }),
 *   "graph rewrites: fused attention, beam_idx cache gather, in-graph top-k, skip layer norm",
 * );
 * ```
 */
export function describeRewrites(applied: DecoderRewrites): string {
  const names = [
    applied.fusedAttention ? "fused attention" : "",
    applied.beamIdx ? "beam_idx cache gather" : "",
    applied.lastPositionLogits ? "last-position LM head" : "",
    applied.topK ? "in-graph top-k" : "",
    applied.skipLayerNorm ? "skip layer norm" : "",
    applied.screenedArgmax ? "int8-screened argmax" : "",
    applied.gemmHead ? "LM head as Gemm on the embedding table" : "",
  ].filter((n) => n);
  return names.length > 0 ? `graph rewrites: ${names.join(", ")}` : "graph as published";
}
