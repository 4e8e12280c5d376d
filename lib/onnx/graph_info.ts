/**
 * What an ONNX graph says about its model, read straight from the protobuf without a runtime:
 * the names and shapes of its initializers. onnxruntime's session reports only inputs and
 * outputs; the embedding tables tell the vocabulary, the width and, for learned positions, the
 * longest sequence the graph can take, which `config.json` may claim wrongly.
 *
 * Only the fields needed are decoded (ModelProto.graph = 7, GraphProto.initializer = 5,
 * TensorProto.dims = 1 and name = 8); everything else, weights included, is skipped by length.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { embeddingTables, initializerShapes } from "./graph_info.ts";
 * const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
 * const tables = embeddingTables(initializerShapes(bytes));
 * assert(tables.positions?.rows === 256);
 * ```
 * @module
 */
import { ProtoReader as Reader } from "./protobuf.ts";

/** One initializer: its name and dimensions. */
export interface InitializerShape {
  /** Tensor name. */
  readonly name: string;
  /** Dimensions. */
  readonly dims: readonly number[];
}

/**
 * Names and dimensions of every initializer of an ONNX model's main graph.
 * @throws {RangeError} when the bytes are not a well-formed protobuf.
 * @example
 * ```ts
 * initializerShapes(await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx")).length > 0;
 * ```
 */
export function initializerShapes(bytes: Uint8Array): InitializerShape[] {
  const out: InitializerShape[] = [];
  const model = new Reader(bytes);
  model.fields((field, wire) => {
    if (field !== 7 || wire !== 2) return false;
    const graph = model.sub();
    graph.fields((gField, gWire) => {
      if (gField !== 5 || gWire !== 2) return false;
      const tensor = graph.sub();
      const dims: number[] = [];
      let name = "";
      tensor.fields((tField, tWire) => {
        if (tField === 1 && tWire === 0) dims.push(tensor.varint());
        else if (tField === 1 && tWire === 2) {
          const packed = tensor.sub();
          while (packed.pos < packed.end) dims.push(packed.varint());
        } else if (tField === 8 && tWire === 2) name = tensor.string();
        else return false;
        return true;
      });
      out.push({ name, dims });
      return true;
    });
    return true;
  });
  return out;
}

/** The token and (learned) position embedding tables a graph holds. */
export interface EmbeddingTables {
  /** Token embeddings: rows = vocabulary, cols = width. */
  readonly tokens?: { readonly name: string; readonly rows: number; readonly cols: number };
  /** Learned positions: rows = longest sequence (plus OPT's offset of 2). */
  readonly positions?: { readonly name: string; readonly rows: number; readonly cols: number };
}

const TOKEN_TABLE = /(^|\.)(wte|embed_tokens|word_embeddings)\.weight$/;
const POSITION_TABLE = /(^|\.)(wpe|embed_positions|position_embeddings)\.weight$/;

/**
 * Finds the embedding tables by their Hugging Face names (`transformer.wte.weight`,
 * `model.decoder.embed_tokens.weight`, `transformer.wpe.weight`, …).
 * @example
 * ```ts
 * embeddingTables([{ name: "transformer.wpe.weight", dims: [1024, 768] }]).positions?.rows; // 1024
 * ```
 */
export function embeddingTables(shapes: readonly InitializerShape[]): EmbeddingTables {
  const table = (pattern: RegExp) => {
    const t = shapes.find((s) => pattern.test(s.name) && s.dims.length === 2);
    return t ? { name: t.name, rows: t.dims[0], cols: t.dims[1] } : undefined;
  };
  const tokens = table(TOKEN_TABLE), positions = table(POSITION_TABLE);
  return { ...(tokens ? { tokens } : {}), ...(positions ? { positions } : {}) };
}
