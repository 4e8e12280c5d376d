/**
 * The handout's three PDFs, exported from the committed notebooks: each carries its
 * headline answers (derived here independently), typeset math, drawn figures, and no raw
 * TeX or mime-bundle JSON.
 */
import { assertEquals, assertGreaterOrEqual, assertMatch, assertNotMatch } from "@std/assert";
import { runScript } from "./run_script.ts";

const ROOT = new URL("../", import.meta.url).pathname;

async function exportAll(): Promise<Record<string, string>> {
  const out = await Deno.makeTempDir({ prefix: "report-pdfs-" });
  const run = await runScript("lib/cli/report.ts", ["--no-execute", "--out", out], ROOT);
  assertEquals(run.code, 0, run.stderr);
  const texts: Record<string, string> = {};
  for (const q of ["question1", "question2", "question3"]) {
    const pdf = `${out}/${q}.pdf`;
    const head = new Uint8Array(5);
    using file = await Deno.open(pdf);
    await file.read(head);
    assertEquals(new TextDecoder().decode(head), "%PDF-", `${q}.pdf is a PDF`);
    const text = await new Deno.Command("pdftotext", { args: [pdf, "-"], stdout: "piped" })
      .output();
    texts[q] = new TextDecoder().decode(text.stdout);
  }
  await Deno.remove(out, { recursive: true });
  return texts;
}

const texts = exportAll();

const count = (text: string, needle: string) => text.split(needle).length - 1;

Deno.test("every PDF is typeset: no raw TeX, no mime-bundle JSON", async () => {
  for (const [q, text] of Object.entries(await texts)) {
    assertNotMatch(text, /\\(mathbb|frac|times|sqrt|mathrm|cdot)\b/, `${q} has raw TeX`);
    assertNotMatch(text, /application\/vnd\.plotly|"layout"\s*:|"data"\s*:\s*\[/, `${q} has JSON`);
  }
});

Deno.test("question1.pdf carries the filled intensities of both handout tables", async () => {
  const text = (await texts).question1;
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
    assertGreaterOrEqual(count(text, shown), 2, `${what}: ${shown} in the tables`);
  }
  assertGreaterOrEqual(count(text, "one layer, L = D = 4096, FP16"), 2, "roofline figure drawn");
});

Deno.test("question2.pdf names the two beams an independent width-2 search returns", async () => {
  const text = (await texts).question2;
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
  assertGreaterOrEqual(count(text, "Beam search with 2 beams over the homework tree"), 2);
  assertMatch(text, /kept beam/);
  assertMatch(text, /returned sequence/);
});

Deno.test("question3.pdf shows a launch command and its output for each sub-question", async () => {
  const text = (await texts).question3;
  for (const flag of ["--output_len", "--beam_width", "--top_k", "--top_p"]) {
    const command = new RegExp(`\\$ deno task question3 ${flag} \\S+[\\s\\S]{0,600}?Output-1:`);
    assertMatch(text, command, `a ${flag} launch followed by its Output-1`);
  }
  assertMatch(text, /Output-1: What is Apple\?/);
  assertMatch(text, /kept beam/, "the real model's beam tree is drawn");
});
