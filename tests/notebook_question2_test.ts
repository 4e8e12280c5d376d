/**
 * The Question 2 notebook: executed afresh by the lossless executor (into a temporary file)
 * and as committed, it must show the beam track figure, the step table and the two answers
 * worked out by hand in the test, plus the comparison with greedy, widths 1–3 and exhaustive.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { executeNotebook } from "../lib/notebook/execute.ts";
import { joinSource, type Notebook, readNotebook } from "../lib/notebook/nbformat.ts";
import { PLOTLY_MIME } from "../lib/show/mod.ts";
import { katexWarnings, outputBundles } from "./notebook_helpers.ts";

const NOTEBOOK = new URL("../notebooks/question2.ipynb", import.meta.url).pathname;

interface Trace {
  name?: string;
  mode: string;
  x: number[];
  text?: string[];
}

function checkAnswers(nb: Notebook, label: string): void {
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    assert(cell.outputs.length > 0, `${label}: no output for ${joinSource(cell.source)}`);
    assert(!cell.outputs.some((o) => o.output_type === "error"), `${label}: error output`);
  }
  const md = outputBundles(nb).map((b) => joinSource((b["text/markdown"] ?? "") as string)).join(
    "\n",
  );
  // By hand: b·c·a = 0.5·0.4·0.6 = 0.12 and c·a·b = 0.3·0.8·0.4 = 0.096; log P / 3 as score.
  assertStringIncludes(
    md,
    `| 1 | b c a | 0.1200 | ${Math.log(0.12).toFixed(4)} | ${(Math.log(0.12) / 3).toFixed(4)} |`,
  );
  assertStringIncludes(md, `| 2 | c a b | 0.0960 | ${Math.log(0.096).toFixed(4)} |`);
  // Step table: step 1 keeps b and c, prunes a.
  assertStringIncludes(md, "| 1 | [s] | b | 0.5000 | 0.5000 | 1 | **kept** |");
  assertStringIncludes(md, "| 1 | [s] | a | 0.2000 | 0.2000 | 3 | pruned |");
  // The optimum a·b·a = 0.2·0.8·0.8 = 0.128 is missed at step 1 and found by width 3.
  assertStringIncludes(md, "| 1 | aba | 0.1280 |  |");
  assertStringIncludes(md, "| 2 | bca | 0.1200 | beam search (2 beams) #1 |");
  assertStringIncludes(md, "| 4 | cab | 0.0960 | beam search (2 beams) #2 |");
  assertStringIncludes(
    md,
    "all 27 sequences, most probable first; their probabilities sum to 1.000000.",
  );
  assertStringIncludes(md, "loses **aba** at step 1");
  assertStringIncludes(
    md,
    "| beam, width 3 | aba (0.1280), bca (0.1200), cab (0.0960) | aba (0.1280) | yes |",
  );
  assertStringIncludes(md, "| greedy | bca (0.1200) | bca (0.1200) | **no** |");
  const figures = outputBundles(nb).filter((b) => b[PLOTLY_MIME]).map((b) =>
    b[PLOTLY_MIME] as { data: Trace[] }
  );
  assertEquals(figures.length, 2, `${label}: Plotly figures`);
  const stars = figures[0].data.find((t) => t.name === "returned sequence")!;
  assertEquals(stars.x.length, 2);
  assert(stars.text!.some((t) => t.includes("0.12") && t.includes("#1")), `${label}: #1 star`);
  assert(stars.text!.some((t) => t.includes("0.096") && t.includes("#2")), `${label}: #2 star`);
  const kept = figures[0].data.find((t) => t.name === "kept beam")!;
  assertEquals(kept.x.slice().sort(), [1, 1, 2, 2]);
  assertEquals(katexWarnings(nb, label), [], `${label}: KaTeX`);
}

Deno.test("question2 notebook: executed afresh, it answers with the beam track and both sequences", async () => {
  const dir = await Deno.makeTempDir({ prefix: "question2-test-" });
  try {
    const nb = await executeNotebook(NOTEBOOK, {
      outPath: `${dir}/question2.ipynb`,
      cellTimeoutMs: 120_000,
    });
    checkAnswers(nb, "executed");
    checkAnswers(await readNotebook(`${dir}/question2.ipynb`), "written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("question2 notebook: the committed copy carries every output", async () => {
  const nb = await readNotebook(NOTEBOOK);
  checkAnswers(nb, "committed");
  assertEquals((nb.metadata.kernelspec as { name?: string } | undefined)?.name, "deno");
});
