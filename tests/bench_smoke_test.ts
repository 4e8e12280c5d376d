// `deno task bench --quick` end to end in a temporary folder: the JSON's shape and internal
// consistency (ratios = ours ÷ theirs of the printed figures, identical tokens, one batched call
// per beam step, no KV-cache readback on WebGPU), the figure, and the flags' errors.
import { assert, assertAlmostEquals, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { parseBenchFlags } from "../bench/main.ts";
import type {
  BeamsResult,
  ContenderDecode,
  DecodeResult,
  RooflineResult,
} from "../lib/bench/results.ts";
import { runScript, type ScriptRun } from "./run_script.ts";

interface Results {
  schema: number;
  machine: { cores: number };
  parts: { roofline: RooflineResult; decode: DecodeResult; beams: { runs: BeamsResult[] } };
}

const MODEL = "data/models/brown-gpt2";
const opts = { sanitizeResources: false, sanitizeOps: false };

const bench = (args: string[]): Promise<ScriptRun> => runScript("bench/main.ts", args);

Deno.test("flags: defaults, --quick, --only, and bad values named", () => {
  const d = parseBenchFlags([]);
  assertEquals(d.parts, ["roofline", "decode", "beams"]);
  assertEquals([d.reps, d.quick, d.hardwarePath], [5, false, "data/hardware-measured.json"]);
  const q = parseBenchFlags(["--quick", "--only=beams,roofline", "--reps", "3"]);
  assertEquals([q.parts, q.reps, q.hardwarePath], [["roofline", "beams"], 3, null]);
  assertThrows(() => parseBenchFlags(["--only", "speed"]), RangeError, '"speed"');
  assertThrows(
    () => parseBenchFlags(["--reps", "0"]),
    RangeError,
    '--reps must be a positive integer, got "0"',
  );
  assertThrows(() => parseBenchFlags(["--fast"]), RangeError, '"--fast"');
});

Deno.test("the CLI exits non-zero on a bad flag and writes nothing", opts, async () => {
  const dir = await Deno.makeTempDir();
  const run = await bench(["--only", "speed", "--out", dir]);
  assertEquals(run.code, 2);
  assertMatch(run.stderr, /--only must be one of roofline, decode, beams, got "speed"/);
  assertEquals([...Deno.readDirSync(dir)].length, 0);
});

Deno.test(
  "--quick: every part runs and the JSON agrees with itself and the output",
  opts,
  async () => {
    const dir = await Deno.makeTempDir();
    const hardware = `${dir}/hardware.json`;
    const run = await bench(["--quick", "--out", dir, "--hardware", hardware, "--model", MODEL]);
    assertEquals(run.code, 0, run.stderr + run.stdout);
    const results: Results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assertEquals(results.schema, 1);
    assert(results.machine.cores >= 1);
    const { roofline, decode, beams } = results.parts;

    // Roofline: positive figures, and the hardware file is the roofline's entries.
    assert(roofline.jsCopy.gbPerS.median > 0);
    const hw = JSON.parse(await Deno.readTextFile(hardware));
    for (const b of roofline.backends) {
      assert(b.bandwidth.gbPerS.median > 0 && b.peak.gflopsPerS.median > 0);
      for (const op of b.ops) {
        assertAlmostEquals(op.intensity, op.flops / op.bytes, 1e-12);
        assert(
          op.gflopsPerS.q1 <= op.gflopsPerS.median && op.gflopsPerS.median <= op.gflopsPerS.q3,
        );
      }
      const entry = hw[`this-machine-${b.backend}`];
      assertEquals(entry.memoryGbPerS, b.bandwidth.gbPerS.median);
      const best = Math.max(b.peak.gflopsPerS.median, ...b.ops.map((o) => o.gflopsPerS.median));
      assertAlmostEquals(entry.peakFlopsPerS.fp32, best * 1e9, 1e-3);
    }
    const figure = JSON.parse(await Deno.readTextFile(`${dir}/roofline-figure.json`));
    assertEquals(figure.data.length, 3 * roofline.backends.length);
    assertEquals(figure.layout.xaxis.type, "log");

    // Decode: every contender made the same N tokens; ratios are ours ÷ theirs of the medians,
    // and the printed line carries the same ratio.
    assertEquals(decode.skipped, [], "every contender starts on this machine");
    assertEquals(decode.identicalTokens, true);
    const byId = new Map<string, ContenderDecode>(decode.contenders.map((c) => [c.id, c]));
    for (const c of decode.contenders) {
      assertEquals(c.tokens.length, decode.newTokens);
      assertEquals(c.modelCalls, decode.newTokens, `${c.id}: prefill + N − 1 decode calls`);
      // The fastest prefill is the prompt over the shortest time to the first token.
      assertAlmostEquals(
        c.prefillTokensPerS.max,
        decode.promptIds.length / (c.prefillMs.min / 1000),
        1e-9 * c.prefillTokensPerS.max,
      );
    }
    assert(decode.comparisons.length >= 3);
    for (const k of decode.comparisons) {
      const ours = byId.get(k.ours)!, theirs = byId.get(k.theirs)!;
      assertAlmostEquals(
        k.ratio,
        ours.decodeTokensPerS.median / theirs.decodeTokensPerS.median,
        1e-12,
      );
      assert(
        run.stdout.includes(`${k.ours} vs ${k.theirs}: ${k.ratio.toFixed(2)}x`),
        `printed ratio of ${k.ours} vs ${k.theirs}`,
      );
    }
    const gpu = byId.get("ours-webgpu");
    if (gpu) {
      assert(gpu.gpuPerToken, "the WebGPU contender counts its transfers");
      // Only the logits come back per token: vocab × 4 bytes, nothing of the KV cache.
      assertEquals(gpu.gpuPerToken.readbackBytes, gpu.gpuPerToken.logitsBytes);
      assertEquals(gpu.gpuPerToken.kvReadbackBytesPerToken, 0);
    }

    const { vocab_size: vocabSize } = JSON.parse(await Deno.readTextFile(`${MODEL}/config.json`));
    // Beams: one batched call per step with `width` rows; greedy is 1× itself.
    for (const r of beams.runs) {
      assertEquals(r.widths.map((w) => w.width), [1, 2, 4, 8]);
      for (const w of r.widths) {
        assertEquals(w.callsPerStep, 1);
        assertEquals(w.rowsPerCall, [w.width]);
        // Session time is part of each step's time, run by run, so also in the medians.
        assert(w.sessionMsPerToken.median > 0);
        assert(w.sessionMsPerToken.median <= w.msPerToken.median);
        if (r.contender === "ours-webgpu") {
          // Beam reordering happens on the GPU: per step only each row's logits come back.
          assertEquals(w.readbackBytesPerStep, w.width * 4 * vocabSize);
        }
      }
      assertEquals(r.widths[0].relativeToGreedy.median, 1);
    }
  },
);

const git = async (...args: string[]) =>
  new TextDecoder().decode(
    (await new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output()).stdout,
  );

Deno.test("--quick never writes committed files: default out/, data/ refused", opts, async () => {
  const committed = ["data/bench/results.json", "data/bench/roofline-figure.json"];
  const before = await Promise.all(committed.map((p) => Deno.readTextFile(p)));
  const status = await git("status", "--porcelain", "--", "data");
  const run = await bench(["--quick", "--only", "roofline"]);
  assertEquals(run.code, 0, run.stderr + run.stdout);
  assertMatch(
    run.stdout,
    /wrote out\/bench-quick\/roofline-figure\.json, out\/bench-quick\/results\.json/,
  );
  assertEquals(await Promise.all(committed.map((p) => Deno.readTextFile(p))), before);
  assertEquals(await git("status", "--porcelain", "--", "data"), status);
  for (
    const args of [
      ["--quick", "--out", "data/bench"],
      ["--quick", "--out", "/tmp/x", "--hardware", "data/hardware-measured.json"],
    ]
  ) {
    const refused = await bench(args);
    assertEquals(refused.code, 2, args.join(" "));
    assertMatch(refused.stderr, /--quick writes smoke-test numbers; it never writes .*data\//);
    assertEquals(refused.stderr.trim().split("\n").length, 1);
  }
});

Deno.test("an interrupted bench writes none of its files", opts, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "bench/main.ts", "--quick", "--out", dir, "--hardware", `${dir}/hw.json`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Interrupt once the roofline part has finished and the decode part runs.
    let out = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (out.includes("== decode:")) break;
    }
    child.kill("SIGINT");
    const status = await child.status;
    await child.stderr.cancel();
    assertEquals(status.code, 130);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
