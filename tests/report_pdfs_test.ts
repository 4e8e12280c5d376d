/**
 * The handout's three PDFs, exported from the committed notebooks: each carries its
 * headline answers (derived here independently), typeset math, drawn figures, and no raw
 * TeX or mime-bundle JSON.
 */
import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertMatch,
  assertNotMatch,
} from "@std/assert";
import { runScript } from "./run_script.ts";

const ROOT = new URL("../", import.meta.url).pathname;

interface Exported {
  /** Text of each page of the submission PDF. */
  pages: string[];
  /** Text of the appendix PDF (every cell, code included). */
  appendix: string;
}

const pdfText = async (pdf: string, ...range: string[]) =>
  new TextDecoder().decode(
    (await new Deno.Command("pdftotext", { args: [...range, pdf, "-"], stdout: "piped" }).output())
      .stdout,
  );

async function exportAll(): Promise<Record<string, Exported>> {
  const out = await Deno.makeTempDir({ prefix: "report-pdfs-" });
  const run = await runScript("lib/cli/report.ts", ["--no-execute", "--out", out], ROOT);
  assertEquals(run.code, 0, run.stderr);
  const texts: Record<string, Exported> = {};
  for (const q of ["question1", "question2", "question3"]) {
    for (const pdf of [`${out}/${q}.pdf`, `${out}/appendix/${q}.pdf`]) {
      const head = new Uint8Array(5);
      using file = await Deno.open(pdf);
      await file.read(head);
      assertEquals(new TextDecoder().decode(head), "%PDF-", `${pdf} is a PDF`);
    }
    const info = new TextDecoder().decode(
      (await new Deno.Command("pdfinfo", { args: [`${out}/${q}.pdf`], stdout: "piped" }).output())
        .stdout,
    );
    const pageCount = Number(info.match(/Pages:\s+(\d+)/)![1]);
    const pages = [];
    for (let p = 1; p <= pageCount; p++) {
      pages.push(await pdfText(`${out}/${q}.pdf`, "-f", String(p), "-l", String(p)));
    }
    texts[q] = { pages, appendix: await pdfText(`${out}/appendix/${q}.pdf`) };
  }
  await Deno.remove(out, { recursive: true });
  return texts;
}

const texts = exportAll();

/** The first two pages of a submission PDF, where every answer must be. */
const firstPages = async (q: string) => (await texts)[q].pages.slice(0, 2).join("\n");

Deno.test("submission PDFs are at most 4 pages; the appendix holds the rest", async () => {
  for (const [q, { pages, appendix }] of Object.entries(await texts)) {
    assert(pages.length <= 4, `${q}.pdf has ${pages.length} pages`);
    assert(appendix.length > pages.join("").length, `${q}: the appendix holds more`);
    // No code in the submission; the appendix prints it.
    assertNotMatch(pages.join("\n"), /^import \{/m, `${q}.pdf prints code`);
    assertMatch(appendix, /import \{/, `${q} appendix has the code`);
  }
});

const count = (text: string, needle: string) => text.split(needle).length - 1;

Deno.test("every PDF is typeset: no raw TeX, no mime-bundle JSON", async () => {
  for (const [q, { pages, appendix }] of Object.entries(await texts)) {
    const text = pages.join("\n") + appendix;
    assertNotMatch(text, /\\(mathbb|frac|times|sqrt|mathrm|cdot)\b/, `${q} has raw TeX`);
    assertNotMatch(text, /application\/vnd\.plotly|"layout"\s*:|"data"\s*:\s*\[/, `${q} has JSON`);
  }
});

Deno.test("question1.pdf answers with both filled tables on its first pages", async () => {
  const text = await firstPages("question1");
  const [L, D, H] = [4096, 4096, 128];
  // Closed forms of 2MNK / 2(MK + KN + MN) for each distinct case, derived by hand.
  const expected = {
    "prefill projection, L×D · D×D: LD / (2L + D)": (L * D) / (2 * L + D),
    "prefill per-head attention, L×H · H×L: LH / (L + 2H)": (L * H) / (L + 2 * H),
    "prefill FFN, L×D · D×4D: 4LD / (5L + 4D)": (4 * L * D) / (5 * L + 4 * D),
    "decode projection, 1×D · D×D: D / (D + 2)": D / (D + 2),
    "decode scores, 1×H · H×(L+1): (L+1)H / (H + (L+1)(H+1))": ((L + 1) * H) /
      (H + (L + 1) * (H + 1)),
    "decode FFN, 1×D · D×4D: 4D / (4D + 5)": (4 * D) / (4 * D + 5),
  };
  for (const [what, value] of Object.entries(expected)) {
    const shown = value.toFixed(value > 10 ? 2 : 4);
    assertGreaterOrEqual(count(text, shown), 2, `${what}: ${shown} in the tables, pages 1–2`);
  }
  assertMatch(text, /Table 1\.1/);
  assertMatch(text, /Table 1\.2/);
  const all = (await texts).question1.pages.join("\n");
  assertGreaterOrEqual(count(all, "one layer, L = D = 4096, FP16"), 1, "roofline figure drawn");
  // The answer uses datasheet GPUs only; this machine's measured roofs live in the appendix.
  assertNotMatch(all, /This machine|lavapipe|llvmpipe/);
});

Deno.test("question2.pdf names the two beams an independent width-2 search returns", async () => {
  const text = await firstPages("question2");
  type Node = { p: number; next?: Record<string, Node> };
  const tree = JSON.parse(await Deno.readTextFile(`${ROOT}data/q2-tree.json`)).tree as Record<
    string,
    Node
  >;
  let beams = [{ seq: "", p: 1, next: tree as Record<string, Node> | undefined }];
  while (beams[0].next) {
    beams = beams.flatMap((b) =>
      Object.entries(b.next!).map(([t, n]) => ({ seq: b.seq + t, p: b.p * n.p, next: n.next }))
    ).sort((x, y) => y.p - x.p).slice(0, 2);
  }
  for (const b of beams) {
    assertMatch(text, new RegExp(`${b.seq}\\s+${b.p.toFixed(4)}`), `${b.seq} (${b.p})`);
  }
  assertGreaterOrEqual(count(text, "Beam search with 2 beams over the homework tree"), 1);
  assertMatch(text, /kept beam/);
  assertMatch(text, /returned sequence/);
});

Deno.test("question3.pdf shows a launch command and its output for each sub-question", async () => {
  const text = await firstPages("question3");
  for (const flag of ["--output_len", "--beam_width", "--top_k", "--top_p"]) {
    const command = new RegExp(`\\$ deno task question3 ${flag} \\S+[\\s\\S]{0,600}?Output-1:`);
    assertMatch(text, command, `a ${flag} launch followed by its Output-1`);
  }
  assertMatch(text, /Output-1: What is Apple\?/);
  assertMatch((await texts).question3.appendix, /kept beam/, "the real model's beam tree");
});
