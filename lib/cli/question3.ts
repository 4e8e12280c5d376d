/**
 * `deno task question3`: the handout's `question3.py` on an ONNX model in Deno, WebGPU when
 * an adapter exists, else WASM. Flags and defaults as the handout's (see
 * `lib/onnx/question3_flags.ts` or `--help`); text streams to stdout as it is generated when
 * one sequence is asked for; errors go to stderr with exit code 2 (bad flags) or 1.
 *
 * @example
 * ```ts
 * // deno task question3 --output_len 40 --beam_width 2
 * import { main } from "./question3.ts";
 * const code = await main(["--output_len", "5", "--backend", "wasm"]);
 * ```
 * @module
 */
import { OnnxCausalLM } from "../onnx/causal_lm.ts";
import {
  DEFAULT_MODEL,
  embeddedModelFolder,
  parseQuestion3Flags,
  QUESTION3_USAGE,
  type Question3Flags,
} from "../onnx/question3_flags.ts";
import { formatHandout, generateText } from "../onnx/text_generation.ts";

/**
 * Runs the CLI on `args` and returns the process exit code.
 * @example
 * ```ts
 * await main(["--help"]); // 0
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  let flags: Question3Flags;
  try {
    flags = parseQuestion3Flags(args);
  } catch (e) {
    console.error(`question3: ${(e as Error).message}\n(run with --help for the flags)`);
    return 2;
  }
  if (flags.help) {
    console.log(QUESTION3_USAGE);
    return 0;
  }
  let model: OnnxCausalLM | undefined;
  try {
    const name = flags.hfModelName === DEFAULT_MODEL ? embeddedModelFolder() : flags.hfModelName;
    model = await OnnxCausalLM.load(name, { backend: flags.backend });
    const encoder = new TextEncoder();
    const streaming = !flags.json && flags.beamWidth === 1 && flags.outputLen > 0;
    // The header goes out with the first piece, so an early error prints nothing half-done.
    let streamed = false;
    const stream = (piece: string) => {
      const head = streamed ? "" : `backend: ${model!.backend}\nstreaming: ${flags.promptSeq}`;
      streamed = true;
      Deno.stdout.writeSync(encoder.encode(head + piece));
    };
    const result = await generateText(model, flags.promptSeq, {
      outputLen: flags.outputLen,
      topK: flags.topK,
      topP: flags.topP,
      beamWidth: flags.beamWidth,
      doSample: flags.doSample,
      seed: flags.seed,
      ...(streaming ? { onText: stream } : {}),
    });
    if (streamed) console.log("\n");
    if (flags.json) {
      const { runs: _runs, ...rest } = result;
      console.log(JSON.stringify(rest, null, 2));
    } else {
      console.log(formatHandout(result));
    }
    return 0;
  } catch (e) {
    console.error(`question3: ${(e as Error).message}`);
    return 1;
  } finally {
    await model?.dispose();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
