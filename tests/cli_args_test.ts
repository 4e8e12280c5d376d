/**
 * Every CLI refuses the same mistakes the same way: exit status 2 and one line on stderr that
 * names the flag, the value and what is allowed, with nothing on stdout.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { runScript } from "./run_script.ts";

/** Each CLI with an integer flag to feed bad numbers and a value flag to starve. */
const CLIS: { script: string; integerFlag: string; valueFlag: string }[] = [
  { script: "lib/cli/intensity.ts", integerFlag: "--seq-len", valueFlag: "--model" },
  { script: "lib/cli/beam.ts", integerFlag: "--width", valueFlag: "--tree" },
  { script: "lib/cli/question3.ts", integerFlag: "--output_len", valueFlag: "--prompt_seq" },
  { script: "lib/cli/report.ts", integerFlag: "--cell-timeout", valueFlag: "--out" },
  { script: "bench/main.ts", integerFlag: "--reps", valueFlag: "--model" },
];

for (const { script, integerFlag, valueFlag } of CLIS) {
  Deno.test(`${script}: bad flags exit 2 with a one-line message naming flag and value`, async () => {
    const cases: [string[], RegExp][] = [
      [["--frobnicate"], /unknown flag "--frobnicate"; allowed: --/],
      [[valueFlag], new RegExp(`^\\S+: ${valueFlag} needs a value`)],
      [[valueFlag, "--json"], new RegExp(`${valueFlag} needs a value, got the flag "--json"`)],
      ...["1e3", "0x300", "NaN", "Infinity", ""].map((v): [string[], RegExp] => [
        [integerFlag, v],
        new RegExp(`${integerFlag} must be (a|an) .+, got "${v}"`),
      ]),
    ];
    const runs = await Promise.all(cases.map(([args]) => runScript(script, args)));
    for (const [i, r] of runs.entries()) {
      const [args, message] = cases[i];
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      const lines = r.stderr.split("\n").filter((l) => l !== "" && !/XDG_RUNTIME_DIR/.test(l));
      assertEquals(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
      assertMatch(lines[0], message);
      assertEquals(r.stdout, "");
    }
  });
}

Deno.test("question3 --help lists HF's processor flags, and --no_repeat_ngram_size holds", async () => {
  const help = await runScript("lib/cli/question3.ts", ["--help"]);
  assertEquals(help.code, 0);
  for (
    const f of [
      "repetition_penalty",
      "no_repeat_ngram_size",
      "min_new_tokens",
      "min_p",
      "typical_p",
    ]
  ) {
    assertMatch(help.stdout, new RegExp(`--${f} `));
  }
  const r = await runScript("lib/cli/question3.ts", [
    "--no_sample",
    "--no_repeat_ngram_size",
    "2",
    "--output_len",
    "16",
    "--backend",
    "wasm",
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const ids: number[] = [...out.promptIds, ...out.outputs[0].ids];
  const bigrams = ids.slice(1).map((t, i) => `${ids[i]},${t}`);
  assertEquals(new Set(bigrams).size, bigrams.length, `a bigram repeats in ${ids}`);
});

Deno.test("the README's question3 flag table states the CLI's own defaults", async () => {
  const { QUESTION3_CLI } = await import("../lib/cli/question3.ts");
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const rows = new Map(
    [...readme.matchAll(/^\| `--(\w+)`\s*\| ([^|]*?)\s*\|/gm)].map((m) => [m[1], m[2]]),
  );
  const flags: Record<string, { default?: unknown; defaultText?: string; value?: unknown }> =
    QUESTION3_CLI.flags;
  for (const [name, f] of Object.entries(flags)) {
    if (!f.value) continue;
    const shown = rows.get(name)?.replaceAll("`", "");
    const expected = f.defaultText ?? String(f.default);
    assertEquals(shown, expected, `README row for --${name}`);
  }
});
