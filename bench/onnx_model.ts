/**
 * Tiny ONNX models built in TypeScript, for timing single operators on onnxruntime-web: a
 * chain of MatMuls whose operand shapes are the ones of a transformer layer, and a chain of
 * element-wise Adds that streams memory. The protobuf is encoded here directly (the few
 * fields of `onnx.proto` these graphs need), so no Python and no model download is involved.
 *
 * Chains exist so a benchmark can time `depth = d1` and `depth = d2` and take the slope: the
 * fixed cost of a run (dispatch, input upload, output download) cancels out, and what is left is
 * the time of one operator.
 *
 * @example
 * ```ts
 * import { matmulChainModel } from "./onnx_model.ts";
 * const { bytes, inputShape } = matmulChainModel({ batch: 1, m: 4, k: 8, n: 8, depth: 2, seed: 1 });
 * bytes.length > 0 && inputShape.join("x") === "1x4x8";
 * ```
 * @module
 */
import type { BatchedMatmulShape } from "../lib/bench/results.ts";
import { ProtoWriter } from "../lib/onnx/protobuf.ts";

/** ONNX `TensorProto.DataType.FLOAT`. */
const FLOAT = 1;
/** IR version 8 and opset 17: understood by every onnxruntime-web 1.x of the last years. */
const IR_VERSION = 8;
const OPSET = 17;

/** A float32 tensor stored in the model (an ONNX initializer). */
interface Initializer {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

/** One graph node: `op` applied to named inputs, producing named outputs. */
interface Node {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
}

/** A float32 graph input or output with a fixed shape. */
interface ValueInfo {
  name: string;
  dims: readonly number[];
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name).message(
    2,
    (type) =>
      type.message(1, (tensor) =>
        tensor.int(1, FLOAT).message(2, (shape) => {
          for (const d of v.dims) shape.message(1, (dim) => dim.int(1, d));
        })),
  );
}

/** Encodes a float32-only ONNX model from its parts. */
function encodeModel(
  name: string,
  nodes: readonly Node[],
  initializers: readonly Initializer[],
  inputs: readonly ValueInfo[],
  outputs: readonly ValueInfo[],
): Uint8Array {
  return new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, "llm-inference-notebooks/bench")
    .message(7, (graph) => {
      nodes.forEach((node, i) =>
        graph.message(1, (n) => {
          for (const input of node.inputs) n.string(1, input);
          for (const output of node.outputs) n.string(2, output);
          n.string(3, `${node.op}_${i}`).string(4, node.op);
        })
      );
      graph.string(2, name);
      for (const init of initializers) {
        graph.message(5, (t) => {
          for (const d of init.dims) t.int(1, d);
          t.int(2, FLOAT).string(8, init.name);
          // raw_data is little-endian float32, which is what a Float32Array holds on every
          // platform onnxruntime-web runs on.
          t.bytes(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
        });
      }
      for (const input of inputs) graph.message(11, (v) => writeValueInfo(v, input));
      for (const output of outputs) graph.message(12, (v) => writeValueInfo(v, output));
    })
    .message(8, (opset) => opset.string(1, "").int(2, OPSET))
    .finish();
}

/**
 * A seeded uniform float32 filler (mulberry32), so models are identical run to run.
 * @example
 * ```ts
 * const a = seededUniform(16, 7, 1), b = seededUniform(16, 7, 1);
 * a.every((x, i) => x === b[i] && Math.abs(x) <= 1);
 * ```
 */
export function seededUniform(count: number, seed: number, scale: number): Float32Array {
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  let s = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (2 * u - 1) * scale;
  }
  return out;
}

function checkDim(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

/** Options of {@linkcode matmulChainModel}. */
export interface MatmulChainOptions extends BatchedMatmulShape {
  /**
   * Number of MatMuls in the chain. Odd positions multiply by a `[k, n]` weight, even ones by
   * an `[n, k]` weight back to `[m, k]`; both have the same FLOPs and bytes, so every link of
   * the chain costs the same.
   */
  depth: number;
  /** Seed of the weights. */
  seed: number;
}

/** A built model and what to feed it. */
export interface BuiltModel {
  /** The serialized ONNX model. */
  bytes: Uint8Array;
  /** Name of the single graph input. */
  inputName: string;
  /** Shape of the single graph input. */
  inputShape: number[];
  /** Name of the single graph output. */
  outputName: string;
  /** Shape of the single graph output. */
  outputShape: number[];
  /** The weights, in chain order, for checking results against a reference. */
  weights: { dims: number[]; data: Float32Array }[];
}

/**
 * A chain of `depth` MatMuls `x · W1 · W2 · …` with `x: [batch, m, k]`, `W1: [batch, k, n]`,
 * `W2: [batch, n, k]`, …; weights are distinct seeded initializers scaled by `1/√rows` so
 * values neither blow up nor vanish along the chain.
 * @example
 * ```ts
 * const model = matmulChainModel({ batch: 2, m: 1, k: 16, n: 64, depth: 3, seed: 3 });
 * model.outputShape.join("x") === "2x1x64";
 * ```
 */
export function matmulChainModel(options: MatmulChainOptions): BuiltModel {
  const { batch, m, k, n, depth, seed } = options;
  for (const [name, v] of Object.entries({ batch, m, k, n, depth })) checkDim(name, v);
  const nodes: Node[] = [];
  const initializers: Initializer[] = [];
  let current = "x";
  for (let i = 0; i < depth; i++) {
    const [rows, cols] = i % 2 === 0 ? [k, n] : [n, k];
    const dims = [batch, rows, cols];
    const data = seededUniform(batch * rows * cols, seed + i, Math.sqrt(3 / rows));
    initializers.push({ name: `w${i}`, dims, data });
    const out = i === depth - 1 ? "y" : `h${i}`;
    nodes.push({ op: "MatMul", inputs: [current, `w${i}`], outputs: [out] });
    current = out;
  }
  const outputShape = [batch, m, depth % 2 === 1 ? n : k];
  return {
    bytes: encodeModel(
      "matmul_chain",
      nodes,
      initializers,
      [{ name: "x", dims: [batch, m, k] }],
      [{ name: "y", dims: outputShape }],
    ),
    inputName: "x",
    inputShape: [batch, m, k],
    outputName: "y",
    outputShape,
    weights: initializers.map((w) => ({ dims: [...w.dims], data: w.data })),
  };
}

/** Options of {@linkcode addChainModel}. */
export interface AddChainOptions {
  /** Elements of each tensor (float32). */
  elements: number;
  /** Number of Adds in the chain. */
  depth: number;
  /** Seed of the added tensor. */
  seed: number;
}

/**
 * A chain of `depth` element-wise Adds `y = ((x + b) + b) + …` over `elements` floats: each link
 * reads two tensors and writes one, `12 · elements` bytes of traffic and no reuse, which is
 * how a streaming bandwidth test looks to the runtime.
 * @example
 * ```ts
 * const model = addChainModel({ elements: 1024, depth: 4, seed: 1 });
 * model.inputShape[0] === 1024;
 * ```
 */
export function addChainModel(options: AddChainOptions): BuiltModel {
  const { elements, depth, seed } = options;
  checkDim("elements", elements);
  checkDim("depth", depth);
  const b = seededUniform(elements, seed, 1);
  const nodes: Node[] = [];
  let current = "x";
  for (let i = 0; i < depth; i++) {
    const out = i === depth - 1 ? "y" : `h${i}`;
    nodes.push({ op: "Add", inputs: [current, "b"], outputs: [out] });
    current = out;
  }
  return {
    bytes: encodeModel(
      "add_chain",
      nodes,
      [{ name: "b", dims: [elements], data: b }],
      [{ name: "x", dims: [elements] }],
      [{ name: "y", dims: [elements] }],
    ),
    inputName: "x",
    inputShape: [elements],
    outputName: "y",
    outputShape: [elements],
    weights: [{ dims: [elements], data: b }],
  };
}
