import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { beamSearch } from "../lib/decoding/generate.ts";
import { OnnxCausalLM } from "../lib/onnx/causal_lm.ts";
import { generateText } from "../lib/onnx/text_generation.ts";
import { clip, plainLabel, traceTreeFigure } from "../lib/show/tree.ts";
import { loadTree } from "../lib/tree/load.ts";
import {
  formatNumber,
  JUPYTER_DISPLAY,
  markdown,
  plot,
  PLOTLY_MIME,
  type PlotlyFigure,
  table,
} from "../lib/show/mod.ts";

Deno.test("table renders a GFM table whose cells line up with the rows", () => {
  const bundle = table(
    [{ key: "op", header: "Op" }, { key: "ai", header: "$I$" }],
    [{ op: "a|b", ai: 2 }, { op: "c", ai: 0.25 }],
    { caption: "**T**" },
  )[JUPYTER_DISPLAY]();
  const lines = (bundle["text/markdown"] as string).split("\n");
  assertEquals(lines[0], "**T**");
  assertEquals(lines[2], "| Op | $I$ |");
  assertEquals(lines[3], "| --- | ---: |");
  assertEquals(lines[4], "| a\\|b | 2 |");
  assertEquals(lines[5], "| c | 0.2500 |");
  assertStringIncludes(bundle["text/plain"] as string, "0.2500");
});

Deno.test("formatNumber groups integers and switches to exponent for extremes", () => {
  assertEquals(formatNumber(68719476736), "68,719,476,736");
  assertEquals(formatNumber(1.5e-5, 3), "1.50e-5");
  assertEquals(formatNumber(Infinity), "Infinity");
});

Deno.test("plot and markdown carry their mime types", () => {
  const fig = { data: [{ type: "bar", y: [1] }], layout: { title: { text: "T" } } };
  const b = plot(fig)[JUPYTER_DISPLAY]();
  assertEquals(b[PLOTLY_MIME], fig);
  assertEquals(b["text/plain"], "[Plotly figure: T]");
  assertEquals(markdown("$x$")[JUPYTER_DISPLAY]()["text/markdown"], "$x$");
});

/** Every label's box (and every marker's) in pixels, from the figure's data and layout. */
function labelBoxes(figure: PlotlyFigure) {
  const layout = figure.layout as unknown as {
    width: number;
    height: number;
    margin: { l: number; r: number; t: number; b: number };
    xaxis: { range: [number, number] };
  };
  const traces = figure.data.filter((t) => t.mode === "markers+text") as {
    x: number[];
    y: number[];
    text: string[];
    textposition: string[];
    textfont: { size: number };
    marker: { size: number };
  }[];
  const ys = traces.flatMap((t) => t.y);
  const [x0, x1] = layout.xaxis.range;
  const plotW = layout.width - layout.margin.l - layout.margin.r;
  // Autorange pads the y range; assume up to 10% so the spacing checked is never overstated.
  const rowPx = (layout.height - layout.margin.t - layout.margin.b) /
    ((Math.max(...ys) - Math.min(...ys)) * 1.1);
  const boxes: { label: string; node: number; box: [number, number, number, number] }[] = [];
  const markers: { node: number; x: number; y: number; r: number }[] = [];
  let node = 0;
  for (const t of traces) {
    t.x.forEach((x, i) => {
      const px = layout.margin.l + (x - x0) / (x1 - x0) * plotW;
      const py = t.y[i] * rowPx;
      const r = t.marker.size / 2;
      const size = t.textfont.size;
      const w = plainLabel(t.text[i]).length * 0.62 * size, h = 1.25 * size;
      const pos = t.textposition[i];
      const box: [number, number, number, number] = pos === "top center"
        ? [px - w / 2, py - r - h, px + w / 2, py - r]
        : pos === "middle right"
        ? [px + r + 2, py - h / 2, px + r + 2 + w, py + h / 2]
        : [px - r - 2 - w, py - h / 2, px - r - 2, py + h / 2];
      boxes.push({ label: plainLabel(t.text[i]), node, box });
      markers.push({ node, x: px, y: py, r });
      node++;
    });
  }
  return { boxes, markers };
}

function overlaps(figure: PlotlyFigure) {
  const { boxes, markers } = labelBoxes(figure);
  const hit = (a: number[], b: number[]) =>
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  const found: string[] = [];
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) {
      if (hit(a.box, b.box)) found.push(`"${a.label}" × "${b.label}"`);
    }
    for (const m of markers) {
      if (m.node === a.node) continue;
      if (hit(a.box, [m.x - m.r, m.y - m.r, m.x + m.r, m.y + m.r])) {
        found.push(`"${a.label}" × node ${m.node}`);
      }
    }
  }
  return found;
}

Deno.test("beam trees: no label overlaps another label or a node, tokens read plainly", {
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
  for (const numBeams of [2, 3]) {
    const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams, trace: true });
    const figure = traceTreeFigure(out.trace!, {
      tokenText: (t) => tree.tokenText(t),
      space: tree.nodes(),
    });
    assertEquals(overlaps(figure), [], `homework tree, ${numBeams} beams`);
  }
  // The real model's tree, as the question 3 notebook draws it.
  const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
  try {
    const result = await generateText(model, "What is Apple?", {
      outputLen: 5,
      beamWidth: 3,
      doSample: false,
      trace: { candidatesPerRow: 2 },
    });
    const figure = traceTreeFigure(result.trace!, {
      tokenText: (t) => model.tokenText(t),
      rootLabel: "What is Apple?",
      labels: "compact",
    });
    assertEquals(overlaps(figure), [], "brown-gpt2, 3 beams");
    const texts = figure.data.flatMap((t) => (t.text as string[] | undefined) ?? []);
    assert(texts.some((t) => t.includes("␣")), "leading spaces shown as ␣");
    assert(!texts.some((t) => /\\[n"]/.test(t)), "no JSON escapes");
  } finally {
    await model.dispose();
  }
  assertEquals(clip(' say "hi"\n'), '␣say␣"hi"⏎');
  assertEquals(clip("a<b"), "a&lt;b");
});
