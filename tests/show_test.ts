import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  formatNumber,
  JUPYTER_DISPLAY,
  markdown,
  plot,
  PLOTLY_MIME,
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
