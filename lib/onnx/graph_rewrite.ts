/**
 * Load-time rewrites of a decoder-with-past graph that do the decode step as the graph should,
 * each applied only where it cannot change a result:
 *
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
 *   log-probabilities (logit − `ReduceLogSumExp`, in float32): greedy and beam
 *   search read k values per row instead of the vocabulary. `logits` stays an output for the
 *   paths that need the whole distribution (sampling, logits processors).
 *
 * Everything else in the file is copied through unchanged, weights included.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rewriteDecoder } from "./graph_rewrite.ts";
 * const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
 * const { applied } = rewriteDecoder(bytes);
 * assertEquals(applied, { beamIdx: true, lastPositionLogits: true, topK: true });
 * ```
 * @module
 */
import { ProtoReader, ProtoWriter } from "./protobuf.ts";

/** The rewrites {@linkcode rewriteDecoder} knows. */
export interface DecoderRewrites {
  /** A `beam_idx` input gathering the cache by row. */
  beamIdx: boolean;
  /** The LM head on the last position only. */
  lastPositionLogits: boolean;
  /** `top_logprobs` / `top_tokens` outputs, `top_k` input. */
  topK: boolean;
}

/** The rewritten graph and which rewrites applied. */
export interface RewrittenDecoder {
  /** The new ONNX model. */
  bytes: Uint8Array;
  /** Which rewrites were applied (a requested one is false where it was not safe). */
  applied: DecoderRewrites;
}

/** Names the rewrites add to the graph. */
export const REWRITE_NAMES = {
  beamIdx: "beam_idx",
  reorder: "reorder_cache",
  topK: "top_k",
  topLogProbs: "top_logprobs",
  topTokens: "top_tokens",
} as const;

const LAST_POSITION = "/last_position";
const MINUS_ONE = int64Initializer("rewrite/minus_one", [-1n]);
const ALL: DecoderRewrites = { beamIdx: true, lastPositionLogits: true, topK: true };
const INT64 = 7, FLOAT = 1, BOOL = 9;
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

function encodeNode(w: ProtoWriter, node: Node): void {
  for (const input of node.inputs) w.string(1, input);
  for (const raw of node.rest) w.raw(raw);
}

function newNode(
  op: string,
  inputs: string[],
  outputs: string[],
  attributes: (w: ProtoWriter) => void = () => {},
): (w: ProtoWriter) => void {
  return (w) => {
    for (const input of inputs) w.string(1, input);
    for (const output of outputs) w.string(2, output);
    w.string(3, `rewrite/${outputs[0]}`).string(4, op);
    attributes(w);
  };
}

/** AttributeProto of type INT (2). */
function intAttribute(name: string, value: number): (w: ProtoWriter) => void {
  return (w) => w.message(5, (a) => a.string(1, name).int(20, 2).int(3, value));
}

function int64Initializer(name: string, values: bigint[]): (w: ProtoWriter) => void {
  return (t) => {
    t.int(1, values.length).int(2, INT64).string(8, name);
    t.bytes(9, new Uint8Array(BigInt64Array.from(values).buffer));
  };
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
  let type: Uint8Array = new Uint8Array(0);
  const bytes = payload(raw);
  const r = new ProtoReader(bytes);
  r.fields((field, wire) => {
    if (field !== 2 || wire !== 2) return false;
    const t = r.sub();
    type = bytes.subarray(t.pos, t.end);
    return true;
  });
  return type;
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
 * assertEquals(rewriteDecoder(bytes, { beamIdx: false, lastPositionLogits: false, topK: true })
 *   .applied.beamIdx, false);
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
  const initializerNames = new Set(
    graphFields.filter((f) => f.field === 5).map((f) => tensorName(f.raw)),
  );
  const all = [...nodes.values()];
  const opset = defaultOpset(modelFields);
  const hasSubgraphs = all.some((n) => SUBGRAPH_OPS.has(n.opType));
  const producer = new Map<string, Node>();
  for (const n of all) for (const o of n.outputs) producer.set(o, n);

  const applied: DecoderRewrites = { beamIdx: false, lastPositionLogits: false, topK: false };
  const before: ((w: ProtoWriter) => void)[] = [];
  const inserted = new Map<Node, ((w: ProtoWriter) => void)[]>();
  const after: ((w: ProtoWriter) => void)[] = [];
  const initializers: ((w: ProtoWriter) => void)[] = [];
  const inputs: ((w: ProtoWriter) => void)[] = [];
  const outputs: ((w: ProtoWriter) => void)[] = [];
  const hasLogits = outputNames.includes("logits");

  const past = inputNames.filter((n) => n.startsWith("past_key_values."));
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
    const types = new Map(
      graphFields.filter((f) => f.field === 11).map((
        f,
      ) => [valueInfoName(f.raw), valueInfoType(f.raw)]),
    );
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
      inserted.set(head, [newNode("Slice", [head.inputs[0], ...range], [last])]);
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

  if (wanted.topK && hasLogits && opset >= 11 && !outputNames.includes(REWRITE_NAMES.topTokens)) {
    // Ranked by the logits themselves, as an argmax over them ranks (log_softmax rounds, and
    // could tie two logits one ulp apart); their log-probabilities are logit − logsumexp.
    const axesAsInput = opset >= 18;
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
      newNode(
        "ReduceLogSumExp",
        ["rewrite/logits_float", ...(axesAsInput ? ["rewrite/minus_one"] : [])],
        ["rewrite/logsumexp"],
        (w) => {
          if (!axesAsInput) w.message(5, (a) => a.string(1, "axes").int(20, 7).int(8, -1));
          intAttribute("keepdims", 1)(w);
        },
      ),
      newNode("Sub", ["rewrite/top_logits", "rewrite/logsumexp"], [REWRITE_NAMES.topLogProbs]),
    );
    if (axesAsInput && !applied.lastPositionLogits) initializers.push(MINUS_ONE);
    inputs.push(valueInfo(REWRITE_NAMES.topK, INT64, [1]));
    outputs.push(
      valueInfo(REWRITE_NAMES.topLogProbs, FLOAT, ["rows", "positions", "k"]),
      valueInfo(REWRITE_NAMES.topTokens, INT64, ["rows", "positions", "k"]),
    );
    applied.topK = true;
  }

  if (!applied.beamIdx && !applied.lastPositionLogits && !applied.topK) {
    return { bytes, applied };
  }
  const graph = new ProtoWriter();
  for (const make of before) graph.message(1, make);
  for (const f of graphFields) {
    const node = nodes.get(f);
    for (const make of (node && inserted.get(node)) ?? []) graph.message(1, make);
    if (node?.changed) graph.message(1, (w) => encodeNode(w, node));
    else graph.raw(f.raw);
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
  for (const f of modelFields) {
    if (f === graphField) model.bytes(7, graph.finish());
    else model.raw(f.raw);
  }
  return { bytes: model.finish(), applied };
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
 * The applied rewrites in words, for a log line.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(
 *   describeRewrites({ beamIdx: true, lastPositionLogits: false, topK: true }),
 *   "graph rewrites: beam_idx cache gather, in-graph top-k",
 * );
 * ```
 */
export function describeRewrites(applied: DecoderRewrites): string {
  const names = [
    applied.beamIdx ? "beam_idx cache gather" : "",
    applied.lastPositionLogits ? "last-position LM head" : "",
    applied.topK ? "in-graph top-k" : "",
  ].filter((n) => n);
  return names.length > 0 ? `graph rewrites: ${names.join(", ")}` : "graph as published";
}
