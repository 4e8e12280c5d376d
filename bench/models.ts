/**
 * The models the benchmark decodes: `embedded` (the workspace's 2.6 M-parameter GPT-2, where a
 * step is mostly per-operator dispatch) and `gpt2-124m` (GPT-2 small's shapes: 12 layers, width
 * 768, vocabulary 50257, 124 M parameters, seeded random weights; DRAM-bound, kernels
 * dominate). The second is built on demand by `tools/train-model/gpt2_small.py` (PyTorch, Debian's
 * `python3-torch`, `python3-onnx`, `python3-numpy` and `python3-regex`) into a cache folder keyed by a hash of the scripts that
 * build it, so a change to them rebuilds and nothing is committed.
 *
 * @example
 * ```ts
 * import { BENCH_MODELS, benchModelFolder } from "./models.ts";
 * BENCH_MODELS.includes("embedded");
 * await benchModelFolder("embedded", console.log); // "data/models/brown-gpt2"
 * ```
 * @module
 */
import { fileURLToPath } from "node:url";

/** The models `--models` may name. */
export const BENCH_MODELS = ["embedded", "gpt2-124m"] as const;

/** One benchmark model. */
export type BenchModel = typeof BENCH_MODELS[number];

const ROOT = new URL("../", import.meta.url);
const EMBEDDED = "data/models/brown-gpt2";
/** The scripts whose content decides the 124M model's bytes. */
const BUILD_SCRIPTS = ["gpt2_small.py", "model.py", "train.py"].map((f) =>
  new URL(`tools/train-model/${f}`, ROOT)
);

/**
 * Where built benchmark models are kept: `$LLM_BENCH_CACHE`, else
 * `$XDG_CACHE_HOME/llm-inference-notebooks`, else `~/.cache/llm-inference-notebooks`.
 * @example
 * ```ts
 * benchCacheDir().endsWith("llm-inference-notebooks") || Deno.env.get("LLM_BENCH_CACHE");
 * ```
 */
export function benchCacheDir(): string {
  const explicit = Deno.env.get("LLM_BENCH_CACHE");
  if (explicit) return explicit;
  const base = Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME") ?? "."}/.cache`;
  return `${base}/llm-inference-notebooks`;
}

async function buildKey(): Promise<string> {
  const parts = await Promise.all(BUILD_SCRIPTS.map((u) => Deno.readFile(u)));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The Python with PyTorch: `$PYTHON`, else Debian's `/usr/bin/python3`, else `python3`. */
function python(): string {
  const explicit = Deno.env.get("PYTHON");
  if (explicit) return explicit;
  try {
    Deno.statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
}

/**
 * The folder of a benchmark model, building `gpt2-124m` first when its cache has no complete
 * copy (the build writes beside the target and renames, so an interrupted build leaves none).
 * @throws {Error} naming what is missing when the build cannot run (no PyTorch).
 * @example
 * ```ts
 * // const folder = await benchModelFolder("gpt2-124m", console.log); // ~1-2 minutes the first time
 * ```
 */
export async function benchModelFolder(
  model: BenchModel,
  log: (line: string) => void,
): Promise<string> {
  if (model === "embedded") return EMBEDDED;
  const folder = `${benchCacheDir()}/gpt2-124m-${await buildKey()}`;
  try {
    await Deno.stat(`${folder}/onnx/model.onnx`);
    return folder;
  } catch {
    // Not built yet.
  }
  log(`building ${model} into ${folder} (tools/train-model/gpt2_small.py, a minute or two)`);
  const script = fileURLToPath(BUILD_SCRIPTS[0]);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(python(), {
      args: [script, "--out", folder],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new Error(
      `cannot run ${python()} to build ${model} (${(e as Error).message}); install Debian's ` +
        `python3-torch, python3-onnx, python3-numpy and python3-regex, or pass --models embedded`,
    );
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(
      `building ${model} failed (${python()} ${script}): ${err}; it needs Debian's ` +
        `python3-torch, python3-onnx, python3-numpy and python3-regex, or pass --models embedded`,
    );
  }
  return folder;
}
