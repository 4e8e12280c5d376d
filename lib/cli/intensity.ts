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
  type Dtype,
  DTYPE_BYTES,
  FFN_KINDS,
  findHardware,
  hardwareRoof,
  headDim,
  intensityReport,
  kvCacheBytes,
  type LayerOp,
  layerOps,
  layerTime,
  loadHardware,
  MODEL_PRESETS,
  modelConfig,
  type ModelConfigOptions,
  type Phase,
  PHASES,
  reportToJson,
  type Roof,
} from "../intensity/mod.ts";
import { formatSeconds, layerTimeTable, terminalTable } from "../show/intensity.ts";
import { formatNumber, JUPYTER_DISPLAY } from "../show/mod.ts";
import {
  flag,
  list,
  oneOf,
  parseFlags,
  positiveInteger,
  runCli,
  switchFlag,
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
} as const;

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
    dtype: flag({
      value: oneOf(Object.keys(DTYPE_BYTES) as Dtype[]),
      help: "element type",
      valueName: "TYPE",
      defaultText: "fp16",
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
  return message.replace(/\b(seqLen|dModel|kvHeads|heads|ffn|batch|layers)\b/g, (k) => flagOf[k]);
}

/** Parsed command line. */
export interface IntensityArgs {
  /** Configuration options (preset and overrides). */
  config: ModelConfigOptions;
  /** Phases to print. */
  phases: Phase[];
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
  if (v.model !== undefined) config.preset = v.model;
  for (const [flag, key] of Object.entries(SIZE_FLAGS)) {
    const value = v[flag as keyof typeof SIZE_FLAGS];
    if (value !== undefined) config[key] = value;
  }
  if (v["ffn-kind"] !== undefined) config.ffnKind = v["ffn-kind"];
  if (v.dtype !== undefined) config.dtype = v.dtype;
  return {
    config: config as ModelConfigOptions,
    phases: v.phase === "both" ? [...PHASES] : [v.phase as Phase],
    hardware: v.hardware ?? [],
    memory: v.memory,
    json: v.json,
    help: v.help,
  };
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
  if (args.json) return reportToJson(intensityReport(config, args.phases, roofs));
  const text = (d: { [JUPYTER_DISPLAY](): Record<string, unknown> }) =>
    d[JUPYTER_DISPLAY]()["text/plain"] as string;
  const group = config.heads / config.kvHeads;
  const out = [
    `${config.preset === "handout" ? "Handout shapes" : MODEL_PRESETS[config.preset!].name}: ` +
    `L=${config.seqLen} D=${config.dModel} n_H=${config.heads} H=${headDim(config)} ` +
    `n_KV=${config.kvHeads}${group > 1 ? ` (GQA, ${group} query heads per KV head)` : ""} ` +
    `F=${config.ffn} (${config.ffnKind}) B=${config.batch} ${config.dtype} ` +
    `(${DTYPE_BYTES[config.dtype]} bytes/element)`,
    "Intensity = 2MNK / (b(MK + KN + MN)) FLOP/byte; attention rows are per head and sequence,",
    "'Products' of them per layer; roofline columns are for all products together.",
  ];
  const phases: Record<string, LayerOp[]> = {};
  for (const phase of args.phases) {
    const ops = layerOps(config, phase);
    phases[phase] = ops;
    out.push("", text(terminalTable(ops, { roofs, caption: `${phase}:` })));
  }
  if (roofs.length > 0) {
    out.push("", text(layerTimeTable(phases, roofs)));
    for (const roof of roofs) {
      const whole = Object.entries(phases).map(([phase, ops]) =>
        `${phase} ${formatSeconds(layerTime(ops, roof).seconds * config.layers)}`
      );
      out.push(`${roof.name}, all ${config.layers} layer(s): ${whole.join(", ")}`);
    }
  }
  out.push(
    "",
    `KV cache: ${formatNumber(Number(kvCacheBytes(config, 1)))} bytes per token, ` +
      `${formatNumber(Number(kvCacheBytes(config)))} bytes at L=${config.seqLen} ` +
      `(all ${config.layers} layer(s), batch ${config.batch})`,
  );
  return out.join("\n");
}

if (import.meta.main) {
  Deno.exit(await runCli(INTENSITY_CLI.name, () => console.log(runIntensity(Deno.args))));
}
