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
import { parseArgs } from "node:util";
import {
  type Dtype,
  DTYPE_BYTES,
  FFN_KINDS,
  type FfnKind,
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

const SIZE_FLAGS = {
  "seq-len": "seqLen",
  "d-model": "dModel",
  "heads": "heads",
  "kv-heads": "kvHeads",
  "ffn": "ffn",
  "batch": "batch",
  "layers": "layers",
} as const;

/**
 * A usage error: the message names the flag and what it allows.
 * @example
 * ```ts
 * new UsageError('--phase must be one of prefill, decode, both, got "x"');
 * ```
 */
export class UsageError extends Error {}

function usage(): string {
  const hw = Object.keys(loadHardware()).join(", ");
  return `Usage: deno task intensity [options]

Arithmetic intensity (FLOPs / bytes) of each operation of one transformer layer, for the
prefill phase (the whole prompt) and the decode phase (one new token against the KV cache).

Options:
  --model <preset>        ${Object.keys(MODEL_PRESETS).join(", ")} (default: handout)
  --seq-len <L>           prompt length (decode attends to L + 1 tokens)
  --d-model <D>           model dimension
  --heads <n_H>           query heads (H = D / n_H)
  --kv-heads <n_KV>       key/value heads, dividing n_H (default: n_H, multi-head)
  --ffn <F>               FFN width (handout: 4D)
  --ffn-kind <kind>       ${FFN_KINDS.join(", ")} (gated = Llama's gate/up/down)
  --batch <B>             sequences per step (default: 1)
  --layers <n>            layers, for whole-model totals
  --dtype <type>          ${Object.keys(DTYPE_BYTES).join(", ")} (default: fp16)
  --hardware <ids>        comma-separated: ${hw}; adds bound, TFLOP/s and time columns
  --memory <level>        dram, l2 (default: dram; l2 only where the preset gives it)
  --phase <phase>         prefill, decode, both (default: both)
  --json                  print one JSON document instead of tables
  -h, --help              this text
`;
}

function positiveInt(flag: string, text: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v <= 0) {
    throw new UsageError(`--${flag} must be a positive integer, got "${text}"`);
  }
  return v;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(", ")}, got "${text}"`);
  }
  return text as T;
}

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
 * parseIntensityArgs(["--model", "opt-350m", "--phase", "decode"]).phases; // ["decode"]
 * ```
 */
export function parseIntensityArgs(argv: string[]): IntensityArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string" },
        ...Object.fromEntries(Object.keys(SIZE_FLAGS).map((f) => [f, { type: "string" }])),
        "ffn-kind": { type: "string" },
        dtype: { type: "string" },
        hardware: { type: "string" },
        memory: { type: "string" },
        phase: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (see --help)`);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const config: Record<string, unknown> = {};
  if (v.model !== undefined) {
    config.preset = oneOf("model", v.model as string, Object.keys(MODEL_PRESETS));
  }
  for (const [flag, key] of Object.entries(SIZE_FLAGS)) {
    if (v[flag] !== undefined) config[key] = positiveInt(flag, v[flag] as string);
  }
  if (v["ffn-kind"] !== undefined) {
    config.ffnKind = oneOf<FfnKind>("ffn-kind", v["ffn-kind"] as string, FFN_KINDS);
  }
  if (v.dtype !== undefined) {
    config.dtype = oneOf<Dtype>(
      "dtype",
      v.dtype as string,
      Object.keys(DTYPE_BYTES) as Dtype[],
    );
  }
  const phase = oneOf("phase", (v.phase as string | undefined) ?? "both", [...PHASES, "both"]);
  const memory = oneOf("memory", (v.memory as string | undefined) ?? "dram", ["dram", "l2"]);
  const known = Object.keys(loadHardware());
  const hardware = v.hardware === undefined
    ? []
    : (v.hardware as string).split(",").map((id) => oneOf("hardware", id.trim(), known));
  return {
    config: config as ModelConfigOptions,
    phases: phase === "both" ? [...PHASES] : [phase],
    hardware,
    memory,
    json: v.json === true,
    help: v.help === true,
  };
}

/**
 * Runs the command: returns the text to print.
 * @throws {UsageError} for bad flags or a configuration the flags make invalid.
 * @example
 * ```ts
 * console.log(runIntensity(["--phase", "decode"]));
 * ```
 */
export function runIntensity(argv: string[]): string {
  const args = parseIntensityArgs(argv);
  if (args.help) return usage();
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
  try {
    console.log(runIntensity(Deno.args));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`intensity: ${e.message}`);
    Deno.exit(2);
  }
}
