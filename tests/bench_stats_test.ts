// Timing statistics of the benchmark, against values computed by hand.
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { formatSummary, quantile, summarize } from "../lib/bench/stats.ts";

Deno.test("summarize: median, quartiles and extremes of an even count, by hand", () => {
  // sorted: 1 1 2 3 4 5 6 9; q1 at position 0.25·7 = 1.75 → 1 + 0.75·(2 − 1) = 1.75;
  // q3 at 5.25 → 5 + 0.25·(6 − 5) = 5.25; median (3 + 4) / 2 = 3.5.
  const s = summarize([3, 1, 4, 1, 5, 9, 2, 6]);
  assertEquals(s.n, 8);
  assertEquals(s.min, 1);
  assertEquals(s.max, 9);
  assertAlmostEquals(s.median, 3.5, 1e-12);
  assertAlmostEquals(s.q1, 1.75, 1e-12);
  assertAlmostEquals(s.q3, 5.25, 1e-12);
  assertAlmostEquals(s.relativeIqr, (5.25 - 1.75) / 3.5, 1e-12);
});

Deno.test("summarize: an odd count and a single sample", () => {
  const s = summarize([30, 10, 20]);
  assertEquals([s.median, s.q1, s.q3], [20, 15, 25]);
  const one = summarize([7]);
  assertEquals([one.median, one.q1, one.q3, one.min, one.max, one.relativeIqr], [7, 7, 7, 7, 7, 0]);
});

Deno.test("quantile interpolates linearly between order statistics", () => {
  assertAlmostEquals(quantile([4, 1, 3, 2], 0.25), 1.75, 1e-12);
  assertEquals(quantile([4, 1, 3, 2], 0), 1);
  assertEquals(quantile([4, 1, 3, 2], 1), 4);
  assertAlmostEquals(quantile([0, 10], 0.9), 9, 1e-12);
});

Deno.test("bad samples and quantiles are refused with the bad value named", () => {
  assertThrows(() => summarize([]), RangeError, "zero samples");
  assertThrows(() => summarize([1, NaN]), RangeError, "NaN");
  assertThrows(() => summarize([1, Infinity]), RangeError, "Infinity");
  assertThrows(() => quantile([1, 2], 1.5), RangeError, "1.5");
});

Deno.test("formatSummary prints median, quartiles and count", () => {
  assertEquals(formatSummary(summarize([1, 2, 3]), "ms"), "2.00 ms (1.50–2.50, n=3)");
});
