import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { executeNotebook } from "../lib/notebook/execute.ts";
import { joinSource, type Notebook, readNotebook } from "../lib/notebook/nbformat.ts";
import { PLOTLY_MIME } from "../lib/show/mod.ts";
import { katexWarnings, outputBundles } from "./notebook_helpers.ts";

const NOTEBOOK = new URL("../notebooks/question1.ipynb", import.meta.url).pathname;
const BENCH_RESULTS = new URL("../data/bench/results.json", import.meta.url).pathname;

function markdownOf(nb: Notebook): string {
  return outputBundles(nb).map((b) => joinSource((b["text/markdown"] ?? "") as string)).join("\n");
}

interface Figure {
  data: { x: number[]; y: number[]; name: string }[];
  layout: { xaxis: { type: string }; yaxis: { type: string }; title: { text: string } };
}

function checkAnswers(nb: Notebook, label: string): void {
  const codeCells = nb.cells.filter((c) => c.cell_type === "code");
  for (const cell of codeCells) {
    if (cell.cell_type !== "code") continue;
    assert(cell.outputs.length > 0, `${label}: no output for ${joinSource(cell.source)}`);
    assert(!cell.outputs.some((o) => o.output_type === "error"), `${label}: error output`);
  }
  const md = markdownOf(nb);
  // 1.1: projections LD/(2L + D) = 4096/3, attention LH/(L + 2H) = 2048/17, FFN 4LD/(5L + 4D).
  for (
    const answer of [
      "$\\frac{4096}{3} \\approx 1365.33$",
      "$\\frac{2048}{17} \\approx 120.47$",
      "$\\frac{16384}{9} \\approx 1820.44$",
      // 1.2: D/(D + 2), (L+1)H/((L+1)(H+1) + H), 4D/(4D + 5).
      "$\\frac{2048}{2049} \\approx 0.9995$",
      "$\\frac{524416}{528641} \\approx 0.9920$",
      "$\\frac{16384}{16389} \\approx 0.9997$",
    ]
  ) assertStringIncludes(md, answer, `${label}: ${answer}`);
  assertStringIncludes(md, "| No. | Computation | Input | Output | Arithmetic Intensity |");
  assertStringIncludes(md, "| 10 | $\\text{Out} = ZW^O$ |");
  // The decode time is all memory-bound on every GPU preset (measured CPU roofs may differ).
  assertEquals(
    md.match(/\| NVIDIA [^|]+ \| [\d.]+ \| decode \| [\d.]+ \| 100\.0 % \|/g)?.length,
    3,
    label,
  );
  // GQA's shared K_j lifts Llama-3-8B's all-heads decode attention to ≈ 3.88.
  assertStringIncludes(md, "\\approx 3.8770$");
  const figures = outputBundles(nb).filter((b) => b[PLOTLY_MIME]).map((b) =>
    b[PLOTLY_MIME] as Figure
  );
  assertEquals(figures.length, 5, `${label}: Plotly figures`);
  const [roofline, seqLen, batch, decodeBatch, measured] = figures;
  assertEquals([roofline.layout.xaxis.type, roofline.layout.yaxis.type], ["log", "log"]);
  const names = roofline.data.map((t) => t.name).join(" | ");
  for (const gpu of ["v100", "a100", "h100"]) assertStringIncludes(names, `decode on ${gpu}`);
  // The V100 roof bends at 125 TFLOP/s / 900 GB/s.
  const v100 = roofline.data[0];
  assert(Math.abs(v100.x[1] - 125e12 / 900e9) < 1e-9 && v100.y[1] === 125, "V100 ridge");
  // This machine's roofline carries the timed MatMuls of the committed benchmark run.
  const bench = JSON.parse(Deno.readTextFileSync(BENCH_RESULTS));
  assertStringIncludes(measured.layout.title.text, "measured roofline");
  const timed = measured.data.filter((t) => t.name?.endsWith("measured MatMuls"));
  assertEquals(timed.length, bench.parts.roofline.backends.length, `${label}: backends`);
  for (const [i, t] of timed.entries()) {
    assertEquals(t.x.length, bench.parts.roofline.backends[i].ops.length, `${label}: ops`);
  }
  assertStringIncludes(seqLen.layout.title.text, "sequence length");
  assertStringIncludes(batch.layout.title.text, "batch size");
  // Beyond the handout: the whole model, its latency per GPU and where decode turns.
  assertStringIncludes(md, "| Parameters | 8,030,261,248 |");
  assertStringIncludes(md, "| Hardware | TTFT | TPOT |");
  assertStringIncludes(md, "| attn_norm |");
  assertStringIncludes(decodeBatch.layout.title.text, "decode step's intensity against the batch");
  const short = decodeBatch.data.find((t) => t.name === "context 128")!;
  const ridge = decodeBatch.data.find((t) => t.name.startsWith("ridge of NVIDIA H100"))!.y[0];
  assert(short.y.at(-1)! > ridge && short.y[0] < ridge, `${label}: context 128 crosses the ridge`);
}

function checkMath(nb: Notebook, label: string): void {
  assertEquals(katexWarnings(nb, label), [], `${label}: KaTeX`);
}

Deno.test("question1 notebook: executed afresh, it answers 1.1 and 1.2 with plots", async () => {
  const dir = await Deno.makeTempDir({ prefix: "question1-test-" });
  try {
    const nb = await executeNotebook(NOTEBOOK, {
      outPath: `${dir}/question1.ipynb`,
      cellTimeoutMs: 120_000,
    });
    checkAnswers(nb, "executed");
    checkMath(nb, "executed");
    checkAnswers(await readNotebook(`${dir}/question1.ipynb`), "written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("question1 notebook: the committed copy carries every output", async () => {
  const nb = await readNotebook(NOTEBOOK);
  checkAnswers(nb, "committed");
  checkMath(nb, "committed");
  assertEquals((nb.metadata.kernelspec as { name?: string } | undefined)?.name, "deno");
});
