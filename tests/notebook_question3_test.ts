/**
 * The Question 3 notebook as committed: every code cell has its outputs and no error; each of
 * 3.1–3.4 shows launch commands for several values of its flag with the CLI's printout, whose
 * token ids decode (with the model's own tokenizer, independently of the notebook) to the text
 * printed; beam widths return that many sequences; the backend is named; the figures (next-token
 * distribution with cut-offs, beam tree, prefill/decode timing) are there.
 *
 * @module
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { joinSource, readNotebook } from "../lib/notebook/nbformat.ts";
import { loadTokenizer } from "../lib/onnx/tokenizer.ts";
import { OnnxCausalLM } from "../lib/onnx/causal_lm.ts";
import { parseQuestion3Flags } from "../lib/cli/question3.ts";
import { generateText } from "../lib/onnx/text_generation.ts";
import { PLOTLY_MIME } from "../lib/show/mod.ts";
import { katexWarnings, outputBundles } from "./notebook_helpers.ts";

const NOTEBOOK = new URL("../notebooks/question3.ipynb", import.meta.url).pathname;
const MODEL = new URL("../data/models/brown-gpt2", import.meta.url).pathname;

interface Transcript {
  command: string;
  backend: string;
  promptIds: number[];
  outputs: { label: string; ids: number[]; text: string }[];
}

/** Parses the CLI printouts (```text blocks starting with `$ deno task question3`). */
function transcripts(markdown: string): Transcript[] {
  const blocks = [...markdown.matchAll(/```text\n\$ (deno task question3[^\n]*)\n([\s\S]*?)```/g)];
  return blocks.map(([, command, body]) => {
    const lines = body.split("\n");
    const backend = markdown.match(/Ran on the \*\*(\w+)\*\* backend/)![1];
    const promptIds = JSON.parse(body.match(/prompt token ids: (\[[^\]]*\])/)![1]);
    const outputs = [...body.matchAll(/(Output-\d+) token ids \(\d+\): (\[[^\]]*\])\n/g)].map(
      ([, label, ids]) => {
        const start = lines.findIndex((l) => l.startsWith(`${label}: `));
        // the text may span lines; a blank line separates it from the next label or the timing
        const next = lines.findIndex((l, i) => i > start && /^Output-\d+ token ids \(/.test(l));
        // The last output runs to the end of the block.
        const end = next < 0 ? lines.length : next - 1;
        const text = lines.slice(start, end).join("\n").replace(/\n+$/, "").slice(
          `${label}: `.length,
        );
        return { label, ids: JSON.parse(ids), text };
      },
    );
    return { command, backend, promptIds, outputs };
  });
}

Deno.test("question3 notebook: committed with outputs that answer 3.1–3.4", async () => {
  const nb = await readNotebook(NOTEBOOK);
  assertEquals((nb.metadata.kernelspec as { name?: string } | undefined)?.name, "deno");
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    assert(cell.outputs.length > 0, `no output for ${joinSource(cell.source)}`);
    assert(!cell.outputs.some((o) => o.output_type === "error"), `error output`);
  }
  const md = outputBundles(nb).map((b) => joinSource((b["text/markdown"] ?? "") as string)).join(
    "\n",
  );
  const runs = transcripts(md);
  const tokenizer = await loadTokenizer(MODEL);
  const promptIds = tokenizer.encode("What is Apple?");
  const backends = new Set(runs.map((r) => r.backend));
  assertEquals(backends.size, 1, "one backend for the sweeps");
  assert(["webgpu", "wasm"].includes([...backends][0]));
  for (const run of runs) {
    assertEquals(run.promptIds, promptIds, run.command);
    for (const o of run.outputs) {
      assertEquals(
        o.text.trimEnd(),
        ("What is Apple?" + tokenizer.decode(o.ids)).trimEnd(),
        `${run.command} ${o.label}`,
      );
    }
  }
  const values = (flag: string) =>
    runs.map((r) => r.command.match(new RegExp(`--${flag} (\\S+)`))?.[1]).filter(Boolean);
  for (const flag of ["output_len", "beam_width", "top_k", "top_p"]) {
    assertGreater(values(flag).length, 1, `3.x needs several values of --${flag}`);
  }
  // 3.1: the number of new tokens is the flag (nothing stopped early) or fewer with EOS
  for (const r of runs.filter((r) => /--output_len \d+$/.test(r.command))) {
    const n = Number(r.command.match(/--output_len (\d+)$/)![1]);
    assert(r.outputs[0].ids.length <= n && r.outputs[0].ids.length > 0, r.command);
  }
  // 3.2: beam width B returns B sequences
  for (const r of runs.filter((r) => /--beam_width \d+$/.test(r.command))) {
    const b = Number(r.command.match(/--beam_width (\d+)$/)![1]);
    assertEquals(
      r.outputs.map((o) => o.label),
      Array.from({ length: b }, (_, i) => `Output-${i + 1}`),
    );
  }
  const widthOne = runs.find((r) => r.command === "deno task question3");
  assert(widthOne, "the default command (beam width 1) is shown");
  assertEquals(widthOne.outputs.length, 1);
  // top_k 1 is greedy: every seed in the seed study gives one text
  assertStringIncludes(md, "| 1 | 8 | 1 | 1 |");

  const figures = outputBundles(nb).filter((b) => b[PLOTLY_MIME]).map((b) =>
    b[PLOTLY_MIME] as { data: { name?: string }[]; layout: { title?: { text?: string } } }
  );
  const names = figures.flatMap((f) => f.data.map((t) => t.name));
  assert(names.includes("kept") && names.includes("cumulative p after top-k"), "distribution");
  assert(names.includes("returned sequence") && names.includes("kept beam"), "beam tree");
  assert(names.some((n) => n?.endsWith("decode ms / token")), "timing plot");
  assertStringIncludes(md, "decode FLOP/byte");

  assertEquals(katexWarnings(nb, "q3"), [], "KaTeX");
});

Deno.test(
  "question3 notebook: its printed outputs reproduce from their launch commands (seeded)",
  { sanitizeResources: false, sanitizeOps: false },
  async () => {
    const nb = await readNotebook(NOTEBOOK);
    const md = outputBundles(nb).map((b) => joinSource((b["text/markdown"] ?? "") as string)).join(
      "\n",
    );
    // --top_k 5 shows twice (the answer's launch and its sweep): the same seeded output both times.
    const all = transcripts(md);
    const topK5 = all.filter((r) => r.command.endsWith("--top_k 5"));
    assertEquals(topK5.length, 2);
    assertEquals(topK5[0].outputs, topK5[1].outputs);
    const runs = [topK5[0], ...all.filter((r) => r.command.endsWith("--beam_width 2"))];
    assertEquals(runs.length, 2);
    // WASM here, whatever backend the notebook ran on: logits agree to ~1e-5, far inside the
    // margins that decide a seeded draw.
    const model = await OnnxCausalLM.load(MODEL, { backend: "wasm" });
    try {
      for (const run of runs) {
        const flags = parseQuestion3Flags(run.command.split(" ").slice(3));
        const result = await generateText(model, flags.promptSeq, {
          outputLen: flags.outputLen,
          topK: flags.topK,
          topP: flags.topP,
          beamWidth: flags.beamWidth,
          seed: flags.seed,
          doSample: flags.doSample,
        });
        assertEquals(result.outputs.map((o) => o.ids), run.outputs.map((o) => o.ids), run.command);
      }
    } finally {
      await model.dispose();
    }
  },
);
