/**
 * Which ONNX files of a model repository run it, chosen as transformers.js chooses them
 * (`src/utils/dtypes.js` and `src/models/session.js` of `@huggingface/transformers` 4.3.2): a
 * dtype maps to a file suffix (`fp32` "", `fp16` `_fp16`, `q8` `_quantized`, `int8` `_int8`,
 * `uint8` `_uint8`, `q4` `_q4`, `q4f16` `_q4f16`, `bnb4` `_bnb4`) on `onnx/model`; `auto` is the
 * config's `transformers.js_config.dtype` (with its `device_config` for the backend) when it
 * names one, else `q8` on WASM and `fp32` elsewhere. Beyond transformers.js: the legacy
 * `onnx/decoder_model_merged{suffix}.onnx` layout (optimum's merged decoder, fed
 * `use_cache_branch`) is used when `onnx/model*` is absent; `auto` falls back to another dtype
 * the repository has (saying so) rather than failing on a missing file; and a repository with no
 * usable layout gets an error naming the files it has.
 *
 * External data are the files `<graph>_data`, `<graph>_data_1`, … present beside the graph.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { chooseModelFiles } from "./model_files.ts";
 * const files = ["config.json", "onnx/model.onnx", "onnx/model_quantized.onnx"];
 * assertEquals(chooseModelFiles(files, { dtype: "auto", backend: "wasm" }).graph, "onnx/model_quantized.onnx");
 * assertEquals(chooseModelFiles(files, { dtype: "auto", backend: "webgpu" }).graph, "onnx/model.onnx");
 * ```
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Json } from "./config.ts";

/** The dtypes `--dtype` accepts; `auto` chooses per backend. */
export const DTYPE_REQUESTS = [
  "auto",
  "fp32",
  "fp16",
  "q8",
  "q4",
  "q4f16",
  "int8",
  "uint8",
  "bnb4",
] as const;

/** A dtype request: a concrete dtype or `auto`. */
export type DtypeRequest = typeof DTYPE_REQUESTS[number];

/** A concrete dtype, naming one file variant. */
export type Dtype = Exclude<DtypeRequest, "auto">;

/** transformers.js's `DEFAULT_DTYPE_SUFFIX_MAPPING`. */
export const DTYPE_SUFFIX: Readonly<Record<Dtype, string>> = {
  fp32: "",
  fp16: "_fp16",
  q8: "_quantized",
  int8: "_int8",
  uint8: "_uint8",
  q4: "_q4",
  q4f16: "_q4f16",
  bnb4: "_bnb4",
};

/** Dtypes whose arithmetic or tensors are fp16: on WebGPU they need the `shader-f16` feature. */
export const FP16_DTYPES: readonly Dtype[] = ["fp16", "q4f16"];

/** The graph layouts understood, in order of preference. */
export const GRAPH_BASES = { model: "onnx/model", merged: "onnx/decoder_model_merged" } as const;

/** Which files run a model and how. */
export interface ModelFiles {
  /** Path of the ONNX graph inside the repository, e.g. `onnx/model_q4.onnx`. */
  graph: string;
  /** External data files beside the graph, in chunk order (often none). */
  externalData: string[];
  /** The dtype the files are. */
  dtype: Dtype;
  /** `model` (transformers.js v3+) or `merged` (optimum's legacy merged decoder). */
  layout: keyof typeof GRAPH_BASES;
  /** What was decided beyond the request (an `auto` fallback), for the user. */
  note?: string;
}

/** Options of {@linkcode chooseModelFiles}. */
export interface ChooseOptions {
  /** The dtype asked for (default `auto`). */
  dtype?: DtypeRequest;
  /** The backend that will run the graph (decides `auto`). */
  backend: Backend;
  /** Parsed config.json (its `transformers.js_config`, when present, decides `auto`). */
  config?: Json;
  /** Whether the WebGPU adapter has `shader-f16` (default true; only read on WebGPU). */
  fp16Supported?: boolean;
  /** How the repository or folder is named in errors (default "the model"). */
  where?: string;
}

/**
 * Checks that `value` names a dtype, with an error listing the allowed values.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * assertEquals(parseDtype("q4f16"), "q4f16");
 * assertThrows(() => parseDtype("int4"), RangeError, "dtype must be one of auto, fp32");
 * ```
 */
export function parseDtype(value: string): DtypeRequest {
  if ((DTYPE_REQUESTS as readonly string[]).includes(value)) return value as DtypeRequest;
  throw new RangeError(
    `dtype must be one of ${DTYPE_REQUESTS.join(", ")}; got ${JSON.stringify(value)}`,
  );
}

/**
 * The dtype transformers.js uses for `auto` on `backend`: the config's
 * `transformers.js_config.dtype` (after its `device_config[backend]`) when it names a dtype for
 * the `model` file, else `q8` on WASM and `fp32` otherwise.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(autoDtype("wasm"), "q8");
 * assertEquals(autoDtype("webgpu", { "transformers.js_config": { dtype: "q4f16" } }), "q4f16");
 * assertEquals(autoDtype("webgpu", { "transformers.js_config": { dtype: { model: "fp16" } } }), "fp16");
 * ```
 */
export function autoDtype(backend: Backend, config: Json = {}): Dtype {
  let custom = (config["transformers.js_config"] ?? {}) as Json;
  const perDevice = (custom.device_config as Json | undefined)?.[backend] as Json | undefined;
  if (perDevice) custom = { ...custom, ...perDevice };
  const configured = typeof custom.dtype === "string"
    ? custom.dtype
    : (custom.dtype as Json | undefined)?.model;
  if (typeof configured === "string" && configured in DTYPE_SUFFIX) return configured as Dtype;
  return backend === "wasm" ? "q8" : "fp32";
}

/**
 * Chooses the graph and its external data among `files` (paths relative to the repository or
 * folder root) for a dtype and backend.
 * @throws {Error} when the requested dtype has no file (naming those present), when no layout
 * is usable (naming the ONNX files found), or when an fp16 dtype meets a WebGPU adapter without
 * `shader-f16`.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * const legacy = ["onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged_quantized.onnx"];
 * assertEquals(chooseModelFiles(legacy, { dtype: "fp32", backend: "wasm" }).layout, "merged");
 * const big = ["onnx/model.onnx", "onnx/model.onnx_data", "onnx/model.onnx_data_1"];
 * assertEquals(chooseModelFiles(big, { dtype: "fp32", backend: "wasm" }).externalData,
 *   ["onnx/model.onnx_data", "onnx/model.onnx_data_1"]);
 * assertThrows(() => chooseModelFiles(legacy, { dtype: "q4", backend: "wasm" }), Error, "has no q4 file");
 * ```
 */
export function chooseModelFiles(files: readonly string[], options: ChooseOptions): ModelFiles {
  const present = new Set(files);
  const where = options.where ?? "the model";
  const available = availableDtypes(files);
  if (available.length === 0) {
    const onnx = files.filter((f) => f.endsWith(".onnx"));
    throw new Error(
      `${where} has no usable ONNX decoder: it needs onnx/model{,_fp16,_quantized,_q4,…}.onnx ` +
        `(transformers.js layout) or onnx/decoder_model_merged*.onnx (optimum's merged decoder); ` +
        (onnx.length > 0
          ? `it has ${onnx.join(", ")}` +
            (onnx.some((f) => f.includes("decoder_with_past_model"))
              ? " (the split decoder/decoder-with-past layout, which needs two sessions and " +
                "is not supported)"
              : "")
          : "it has no .onnx file at all"),
    );
  }
  const requested = options.dtype ?? "auto";
  const fp16Ok = options.backend !== "webgpu" || (options.fp16Supported ?? true);
  let dtype: Dtype, note: string | undefined;
  if (requested === "auto") {
    const preferred = autoDtype(options.backend, options.config);
    const usable = available.filter((d) => fp16Ok || !FP16_DTYPES.includes(d));
    if (usable.includes(preferred)) dtype = preferred;
    else {
      const order: Dtype[] = options.backend === "wasm"
        ? ["q8", "int8", "uint8", "fp32", "q4", "bnb4", "fp16", "q4f16"]
        : ["fp32", "fp16", "q4f16", "q8", "q4", "int8", "uint8", "bnb4"];
      const fallback = order.find((d) => usable.includes(d));
      if (!fallback) {
        throw new Error(
          `${where} has only ${available.join(", ")} files, which need fp16 on WebGPU, and this ` +
            `adapter lacks shader-f16; use --backend wasm`,
        );
      }
      dtype = fallback;
      // A folder with one variant has nothing to choose between: no note.
      if (available.length > 1) {
        note = `dtype auto: ${where} has no ${preferred} file for ${options.backend}; ` +
          `using ${fallback}`;
      }
    }
  } else {
    if (!available.includes(requested)) {
      throw new Error(
        `${where} has no ${requested} file (${GRAPH_BASES.model}${
          DTYPE_SUFFIX[requested]
        }.onnx); ` +
          `its dtypes are ${available.join(", ")}`,
      );
    }
    if (!fp16Ok && FP16_DTYPES.includes(requested)) {
      throw new Error(
        `dtype ${requested} needs fp16 on WebGPU and this adapter lacks shader-f16 ` +
          `(as transformers.js refuses it); use --backend wasm or another --dtype`,
      );
    }
    dtype = requested;
  }
  const layout = present.has(`${GRAPH_BASES.model}${DTYPE_SUFFIX[dtype]}.onnx`)
    ? "model"
    : "merged";
  const graph = `${GRAPH_BASES[layout]}${DTYPE_SUFFIX[dtype]}.onnx`;
  return {
    graph,
    externalData: externalDataFiles(files, graph),
    dtype,
    layout,
    ...(note ? { note } : {}),
  };
}

/**
 * The dtypes a file list offers (in either layout), in {@linkcode DTYPE_SUFFIX} order.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(availableDtypes(["onnx/model_q4f16.onnx", "onnx/model.onnx"]), ["fp32", "q4f16"]);
 * ```
 */
export function availableDtypes(files: readonly string[]): Dtype[] {
  const present = new Set(files);
  return (Object.keys(DTYPE_SUFFIX) as Dtype[]).filter((d) =>
    Object.values(GRAPH_BASES).some((base) => present.has(`${base}${DTYPE_SUFFIX[d]}.onnx`))
  );
}

/**
 * The external data chunks of `graph` present in `files`: `<graph>_data`, then `_data_1`, … up
 * to the first gap.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(externalDataFiles(["onnx/m.onnx", "onnx/m.onnx_data"], "onnx/m.onnx"), ["onnx/m.onnx_data"]);
 * ```
 */
export function externalDataFiles(files: readonly string[], graph: string): string[] {
  const present = new Set(files);
  const chunks: string[] = [];
  for (let i = 0;; i++) {
    const name = `${graph}_data${i === 0 ? "" : `_${i}`}`;
    if (!present.has(name)) return chunks;
    chunks.push(name);
  }
}
