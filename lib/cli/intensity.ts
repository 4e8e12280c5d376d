/**
 * `deno task intensity`: the arithmetic intensity of every operation of one transformer layer
 * for prefill and decode, for the handout's shapes, a model preset or explicit sizes, with
 * roofline columns for chosen hardware. Human-readable tables by default, `--json` for
 * machines. Bad flags exit with status 2 and a message naming the flag and what is allowed.
 *
 * @example
 * ```sh
 * deno task intensity --model llama-3-8b --phase decode --batch 16 --hardware v100,h100
 * deno task intensity --seq-len 2048 --d-model 1024 --heads 16 --json
 * ```
 * @module
 */
import {
  type AttentionKind,
  dtypeBytes,
  DTYPES,
  FFN_KINDS,
  findHardware,
  hardwareRoof,
  headDim,
  intensityReport,
  kvCacheBytes,
  layerCost,
  type LayerOp,
  layerOps,
  layerTime,
  loadHardware,
  MODEL_PRESETS,
  type ModelConfig,
  modelConfig,
  type ModelConfigOptions,
  type ModelPreset,
  type Phase,
  PHASES,
  PRECISIONS,
  presetFromHfConfig,
  reportToJson,
  type Roof,
  uniformPrecision,
  wholeModelReport,
} from "../intensity/mod.ts";
import { formatSeconds, layerTimeTable, terminalTable } from "../show/intensity.ts";
import { formatBytes, latencyTable, layerCostTable, wholeModelTable } from "../show/model.ts";
import { formatNumber, JUPYTER_DISPLAY } from "../show/mod.ts";
import {
  decimal,
  flag,
  list,
  oneOf,
  parseFlags,
  positiveInteger,
  runCli,
  switchFlag,
  text,
  usage,
  UsageError,
} from "./args.ts";

const SIZE_FLAGS = {
  "seq-len": "seqLen",
  "d-model": "dModel",
  "heads": "heads",
  "kv-heads": "kvHeads",
  "ffn": "ffn",
  "batch": "batch",
  "layers": "layers",
  "vocab": "vocab",
} as const;

const dtypeFlag = (help: string) =>
  flag({ value: oneOf(DTYPES), help, valueName: "TYPE", defaultText: "--dtype" });

const size = (help: string, valueName: string) => flag({ value: positiveInteger, help, valueName });

/** The command line of `deno task intensity`. */
export const INTENSITY_CLI = {
  name: "intensity",
  summary: "Arithmetic intensity (FLOPs / bytes) of each operation of one transformer layer, " +
    "for the prefill phase (the whole prompt) and the decode phase (one new token against " +
    "the KV cache).",
  flags: {
    model: flag({
      value: oneOf(Object.keys(MODEL_PRESETS)),
      help: "model preset",
      valueName: "PRESET",
      defaultText: "handout",
    }),
    config: flag({
      value: text("a path to a Hugging Face config.json"),
      help: "read the shape from a Hugging Face config.json instead of a preset",
      valueName: "FILE",
    }),
    "seq-len": size("prompt length (decode attends to L + 1 tokens)", "L"),
    "d-model": size("model dimension", "D"),
    heads: size("query heads (H = D / n_H)", "n_H"),
    "kv-heads": size("key/value heads, dividing n_H (default n_H: multi-head)", "n_KV"),
    ffn: size("FFN width (handout: 4D)", "F"),
    "ffn-kind": flag({
      value: oneOf(FFN_KINDS),
      help: "gated = Llama's gate/up/down",
      valueName: "KIND",
    }),
    batch: size("sequences per step (default 1)", "B"),
    layers: size("layers, for whole-model totals", "N"),
    vocab: size("vocabulary size, for embeddings and the LM head", "V"),
    dtype: flag({
      value: oneOf(DTYPES),
      help: "element type of everything (activations, weights, KV cache)",
      valueName: "TYPE",
      defaultText: "fp16",
    }),
    precision: flag({
      value: oneOf(Object.keys(PRECISIONS)),
      help: "activations/weights/KV preset (w4a16: 4-bit weights, FP16 arithmetic)",
      valueName: "PRESET",
    }),
    weights: dtypeFlag("element type of the linear weights"),
    kv: dtypeFlag("element type of the KV cache"),
    attention: flag({
      value: oneOf(["unfused", "fused"] as const),
      default: "unfused" as AttentionKind,
      help: "attention traffic: per product, or one FlashAttention-style kernel",
      valueName: "KIND",
    }),
    "all-ops": switchFlag("also cost every operation of the layer (norms, softmax, adds, …)"),
    "whole-model": switchFlag(
      "whole model: totals, memory, latency per GPU, largest batch, compute-bound batch",
    ),
    "prompt-len": size("request prompt tokens (default L)", "P"),
    "output-len": flag({
      value: positiveInteger,
      default: 128,
      help: "request output tokens",
      valueName: "N",
    }),
    "gpu-memory": flag({
      value: decimal({ min: 0, minExclusive: true }),
      help: "GPU memory in GB for fits/max batch (default each preset's)",
      valueName: "GB",
    }),
    hardware: flag({
      value: list(oneOf(Object.keys(loadHardware()))),
      help: "adds bound, TFLOP/s and time columns",
      valueName: "IDS",
    }),
    memory: flag({
      value: oneOf(["dram", "l2"] as const),
      default: "dram" as "dram" | "l2",
      help: "memory level of the roofs (l2 only where the preset gives it)",
      valueName: "LEVEL",
    }),
    phase: flag({
      value: oneOf([...PHASES, "both"]),
      default: "both",
      help: "phases to print",
      valueName: "PHASE",
    }),
    json: switchFlag("print one JSON document instead of tables"),
    help: switchFlag("this text", "h"),
  },
} as const;

/** The library's field names in a message, as the flags that set them. */
function flagNames(message: string): string {
  const flagOf = Object.fromEntries(Object.entries(SIZE_FLAGS).map(([f, k]) => [k, `--${f}`]));
  flagOf.weightDtype = "--weights";
  flagOf.kvDtype = "--kv";
  return message.replace(
    /\b(seqLen|dModel|kvHeads|heads|ffn|batch|layers|vocab|weightDtype|kvDtype)\b/g,
    (k) => flagOf[k],
  );
}

/** Parsed command line. */
export interface IntensityArgs {
  /** Configuration options (preset and overrides). */
  config: ModelConfigOptions;
  /** Where the shape came from when it is a config.json. */
  configFile?: string;
  /** Phases to print. */
  phases: Phase[];
  /** Attention traffic. */
  attention: AttentionKind;
  /** Cost every operation of the layer. */
  allOps: boolean;
  /** Whole-model report. */
  wholeModel: boolean;
  /** Request prompt length (default: the configuration's L). */
  promptLen?: number;
  /** Request output length. */
  outputLen: number;
  /** GPU memory override, bytes. */
  gpuMemoryBytes?: number;
  /** Hardware ids. */
  hardware: string[];
  /** Memory level of the roofs. */
  memory: "dram" | "l2";
  /** JSON instead of tables. */
  json: boolean;
  /** Print the help and stop. */
  help: boolean;
}

/**
 * Parses the command line.
 * @throws {UsageError} naming the bad flag and what it allows.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseIntensityArgs(["--model", "opt-350m", "--phase", "decode"]).phases, ["decode"]);
 * ```
 */
export function parseIntensityArgs(argv: string[]): IntensityArgs {
  const v = parseFlags(INTENSITY_CLI, argv).values;
  const config: Record<string, unknown> = {};
  if (v.model !== undefined && v.config !== undefined) {
    throw new UsageError("--model and --config both give the shape; pass one of them");
  }
  if (v.model !== undefined) config.preset = v.model;
  if (v.config !== undefined) config.base = readHfConfig(v.config);
  for (const [flag, key] of Object.entries(SIZE_FLAGS)) {
    const value = v[flag as keyof typeof SIZE_FLAGS];
    if (value !== undefined) config[key] = value;
  }
  if (v["ffn-kind"] !== undefined) config.ffnKind = v["ffn-kind"];
  if (v.precision !== undefined) {
    if (v.dtype !== undefined) {
      throw new UsageError(
        `--dtype ${v.dtype} and --precision ${v.precision} both set the element types; ` +
          "pass one of them (and --weights/--kv to adjust)",
      );
    }
    Object.assign(config, PRECISIONS[v.precision]);
  }
  if (v.dtype !== undefined) config.dtype = v.dtype;
  if (v.weights !== undefined) config.weightDtype = v.weights;
  if (v.kv !== undefined) config.kvDtype = v.kv;
  return {
    config: config as ModelConfigOptions,
    ...(v.config === undefined ? {} : { configFile: v.config }),
    phases: v.phase === "both" ? [...PHASES] : [v.phase as Phase],
    attention: v.attention,
    allOps: v["all-ops"],
    wholeModel: v["whole-model"],
    ...(v["prompt-len"] === undefined ? {} : { promptLen: v["prompt-len"] }),
    outputLen: v["output-len"],
    ...(v["gpu-memory"] === undefined ? {} : { gpuMemoryBytes: v["gpu-memory"] * 1e9 }),
    hardware: v.hardware ?? [],
    memory: v.memory,
    json: v.json,
    help: v.help,
  };
}

/** The shape in a Hugging Face config.json, or a one-line usage error naming the file. */
function readHfConfig(path: string): ModelPreset {
  let textContent: string;
  try {
    textContent = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UsageError(`--config: cannot read "${path}" (${(e as Error).message})`);
  }
  try {
    return presetFromHfConfig(JSON.parse(textContent), path);
  } catch (e) {
    const message = e instanceof SyntaxError
      ? `not valid JSON (${e.message})`
      : (e as Error).message;
    throw new UsageError(`--config: ${message.startsWith(path) ? message : `${path}: ${message}`}`);
  }
}

/** The configuration's one-line description. */
function describe(config: ModelConfig): string {
  const group = config.heads / config.kvHeads;
  const precision = uniformPrecision(config)
    ? `${config.dtype} (${dtypeBytes(config.dtype)} bytes/element)`
    : `activations ${config.dtype}, weights ${config.weightDtype}, KV cache ${config.kvDtype}`;
  return `${config.preset === "handout" ? "Handout shapes" : config.name}: ` +
    `L=${config.seqLen} D=${config.dModel} n_H=${config.heads} H=${headDim(config)} ` +
    `n_KV=${config.kvHeads}${group > 1 ? ` (GQA, ${group} query heads per KV head)` : ""} ` +
    `F=${config.ffn} (${config.ffnKind}) B=${config.batch} ${precision}`;
}

/**
 * Runs the command: returns the text to print.
 * @throws {UsageError} for bad flags or a configuration the flags make invalid.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * assertStringIncludes(runIntensity(["--phase", "decode"]), "2048/2049");
 * ```
 */
export function runIntensity(argv: string[]): string {
  const args = parseIntensityArgs(argv);
  if (args.help) return usage(INTENSITY_CLI);
  let config;
  try {
    config = modelConfig(args.config);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(flagNames(e.message));
    throw e;
  }
  const all = loadHardware();
  let roofs: Roof[];
  try {
    roofs = args.hardware.map((id) =>
      hardwareRoof(findHardware(all, id), config.dtype, args.memory)
    );
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`--hardware: ${e.message}`);
    throw e;
  }
  const request = { promptLen: args.promptLen ?? config.seqLen, outputLen: args.outputLen };
  const whole = () => {
    try {
      return wholeModelReport(
        config,
        roofs,
        request,
        { attention: args.attention },
        args.gpuMemoryBytes,
      );
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(`--whole-model: ${flagNames(e.message)}`);
      throw e;
    }
  };
  if (args.json) {
    const report = intensityReport(config, args.phases, roofs);
    const extra: Record<string, unknown> = {};
    if (args.allOps) {
      extra.allOps = Object.fromEntries(
        args.phases.map((
          phase,
        ) => [phase, layerCost(config, phase, { attention: args.attention })]),
      );
    }
    if (args.wholeModel) extra.wholeModel = whole();
    return reportToJson({ ...report, ...extra });
  }
  const textOf = (d: { [JUPYTER_DISPLAY](): Record<string, unknown> }) =>
    d[JUPYTER_DISPLAY]()["text/plain"] as string;
  const out = [
    describe(config),
    "Intensity = 2MNK / (b(MK + KN + MN)) FLOP/byte; attention rows are per head and sequence,",
    "'Products' of them per layer; roofline columns are for all products together.",
  ];
  const phases: Record<string, LayerOp[]> = {};
  for (const phase of args.phases) {
    const ops = layerOps(config, phase);
    phases[phase] = ops;
    out.push("", textOf(terminalTable(ops, { roofs, caption: `${phase}:` })));
  }
  if (roofs.length > 0) {
    out.push("", textOf(layerTimeTable(phases, roofs)));
    for (const roof of roofs) {
      const all = Object.entries(phases).map(([phase, ops]) =>
        `${phase} ${formatSeconds(layerTime(ops, roof).seconds * config.layers)}`
      );
      out.push(`${roof.name}, matmuls of all ${config.layers} layer(s): ${all.join(", ")}`);
    }
  }
  if (args.allOps) {
    for (const phase of args.phases) {
      const ops = layerCost(config, phase, { attention: args.attention });
      out.push(
        "",
        textOf(
          layerCostTable(ops, roofs, `${phase}, every operation (${args.attention} attention):`),
        ),
      );
    }
  }
  out.push(
    "",
    `KV cache: ${formatNumber(Number(kvCacheBytes(config, 1)))} bytes per token, ` +
      `${formatNumber(Number(kvCacheBytes(config)))} bytes at L=${config.seqLen} ` +
      `(all ${config.layers} layer(s), batch ${config.batch})`,
  );
  if (args.wholeModel) {
    const report = whole();
    out.push(
      "",
      textOf(wholeModelTable(
        report,
        `Whole model, batch ${config.batch}, ${args.attention} attention, LM head on the last ` +
          `prompt position:`,
      )),
    );
    if (roofs.length > 0) {
      out.push(
        "",
        textOf(latencyTable(
          report,
          `Request: prompt ${request.promptLen}, output ${request.outputLen} tokens, batch ` +
            `${config.batch} (roofline; decode compute-bound = whole step at context ` +
            `${request.promptLen}):`,
        )),
      );
      const memory = report.roofs.filter((r) => r.memoryBytes !== undefined);
      if (memory.length > 0) {
        out.push(
          `Memory per GPU: ${
            memory.map((r) => `${r.roof} ${formatBytes(r.memoryBytes!)}`).join(", ")
          }`,
        );
      }
    } else {
      out.push("(add --hardware IDS for latency, fits, largest batch and compute-bound batch)");
    }
  }
  return out.join("\n");
}

if (import.meta.main) {
  Deno.exit(await runCli(INTENSITY_CLI.name, () => console.log(runIntensity(Deno.args))));
}
