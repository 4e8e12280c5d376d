/**
 * `deno task beam` as a user runs it: the `--json` report checked against the homework answer
 * derived by hand, the text output, and every kind of bad input exiting non-zero with a message
 * naming the flag or the tree node.
 *
 * @module
 */
import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { runScript, type ScriptRun } from "./run_script.ts";

const CLI = new URL("../lib/cli/beam.ts", import.meta.url).pathname;

const run = (...args: string[]): Promise<ScriptRun> => runScript(CLI, args);

Deno.test("beam --json: the homework answer (width 2) and the missed optimum", async () => {
  const r = await run("--json");
  assertEquals(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  // By hand: step 1 keeps b (.5), c (.3); step 2 keeps c·a (.3·.8 = .24), b·c (.5·.4 = .20);
  // step 3 keeps b·c·a (.20·.6 = .12) and c·a·b (.24·.4 = .096).
  assertEquals(report.sequences.map((s: { tokens: string[] }) => s.tokens.join("")), [
    "bca",
    "cab",
  ]);
  assertAlmostEquals(report.sequences[0].probability, 0.5 * 0.4 * 0.6, 1e-12);
  assertAlmostEquals(report.sequences[1].probability, 0.3 * 0.8 * 0.4, 1e-12);
  assertAlmostEquals(report.sequences[0].score, Math.log(0.12) / 3, 1e-6);
  // a·b·a = .2·.8·.8 = .128 is the most probable sequence; width 2 pruned "a" at step 1.
  assertEquals(report.optimum.tokens.join(""), "aba");
  assertAlmostEquals(report.optimum.probability, 0.128, 1e-12);
  assertEquals(report.optimum.found, false);
  assertEquals(report.trace.steps.length, 3);
  const kept = report.trace.steps.map((s: { rows: unknown; candidates: { status: string }[] }) =>
    s.candidates.filter((c) => c.status === "kept").length
  );
  assertEquals(kept, [2, 2, 2]);
});

Deno.test("beam --width 3 finds the optimum; --return limits the sequences", async () => {
  const r = await run("--width", "3", "--return", "1", "--json");
  assertEquals(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assertEquals(report.sequences.length, 1);
  assertEquals(report.sequences[0].tokens.join(""), "aba");
  assertEquals(report.optimum.found, true);
});

Deno.test("beam text output names the sequences and where the optimum was pruned", async () => {
  const r = await run();
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "1. b c a   P = 0.1200");
  assertStringIncludes(r.stdout, "2. c a b   P = 0.0960");
  assertStringIncludes(r.stdout, 'its prefix "a" (P = 0.2000) was pruned at step 1');
});

Deno.test("beam rejects bad flags and bad trees with status 2 and a precise message", async () => {
  const dir = await Deno.makeTempDir();
  const tree = JSON.parse(
    await Deno.readTextFile(new URL("../data/q2-tree.json", import.meta.url)),
  );
  tree.tree.b.next.c.next.a.p = 0.5;
  await Deno.writeTextFile(`${dir}/bad-sum.json`, JSON.stringify(tree));
  await Deno.writeTextFile(`${dir}/broken.json`, "{ not json");
  const cases: [string[], string][] = [
    [["--width", "0"], '--width must be a positive integer, got "0"'],
    [["--width", "two"], '--width must be a positive integer, got "two"'],
    [["--width", "2", "--return", "3"], "--return must be between 1 and --width (2), got 3"],
    [["--bogus"], 'unknown flag "--bogus"; allowed: --width, --return, --tree, --json, --help'],
    [["--tree", `${dir}/missing.json`], `--tree: cannot read ${dir}/missing.json`],
    [["--tree", `${dir}/bad-sum.json`], "tree.b.c: children sum to 0.9, expected 1 ± 1e-6"],
    [["--tree", `${dir}/broken.json`], "file: invalid JSON"],
  ];
  try {
    for (const [args, message] of cases) {
      const r = await run(...args);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertStringIncludes(r.stderr, message);
      assertEquals(r.stdout, "");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const help = await run("--help");
  assertEquals(help.code, 0);
  assert(help.stdout.includes("--width K"));
});
