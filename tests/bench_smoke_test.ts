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
  TargetResult,
} from "../lib/bench/results.ts";
import { targetLine } from "../lib/bench/targets.ts";
import { runScript, type ScriptRun } from "./run_script.ts";

interface Results {
  schema: number;
  machine: { cores: number };
  parts: {
    roofline: RooflineResult;
    decode: { models: DecodeResult[] };
    beams: { runs: BeamsResult[] };
  };
  targets: TargetResult[];
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
  assertEquals([d.bestOf, q.bestOf, parseBenchFlags(["--best-of", "5"]).bestOf], [3, 2, 5]);
  assertThrows(
    () => parseBenchFlags(["--best-of", "0"]),
    RangeError,
    '--best-of must be a positive integer, got "0"',
  );
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
    const run = await bench(["--quick", "--out", dir, "--hardware", hardware]);
    assertEquals(run.code, 0, run.stderr + run.stdout);
    const results: Results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assertEquals(results.schema, 2);
    assert(results.machine.cores >= 1);
    const { roofline, decode, beams } = results.parts;

    // Roofline: positive figures, and the hardware file is the roofline's entries.
    assert(roofline.jsCopy.gbPerS.median > 0);
    // The read probe streamed the quick run's 16 MiB on the WASM runtime's threads.
    assertEquals(roofline.read?.bytesPerOp, 16 << 20);
    assert(roofline.read!.gbPerS.median > 0);
    assertMatch(run.stdout, /read bandwidth \(\d+ thread\(s\)\): /);
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

    // Decode: the quick run decodes the embedded model only (no model build), CPU contenders
    // and, with an adapter, WebGPU ones; every contender made the same N tokens.
    assertEquals([...new Set(decode.models.map((r) => r.name))], ["embedded"]);
    const cpu = decode.models.find((r) => r.group === "cpu")!;
    assertEquals(cpu.contenders.length, 6, "every CPU contender starts on this machine");
    for (const r of decode.models) {
      assertEquals(r.skipped, [], `${r.group}: every contender starts`);
      assertEquals(r.bestOf, 2, "a quick run keeps the fastest of 2 generations");
      assertEquals(r.identicalTokens, true);
      const byId = new Map<string, ContenderDecode>(r.contenders.map((c) => [c.id, c]));
      for (const c of r.contenders) {
        assertEquals(c.tokens.length, r.newTokens);
        assertEquals(c.modelCalls, r.newTokens, `${c.id}: prefill + N − 1 decode calls`);
        assertEquals(c.decodeTokensPerSByRep.length, r.reps);
        // The fastest prefill is the prompt over the shortest time to the first token.
        assertAlmostEquals(
          c.prefillTokensPerS.max,
          r.promptIds.length / (c.prefillMs.min / 1000),
          1e-9 * c.prefillTokensPerS.max,
        );
        assert(c.sessionMsPerStep.median > 0);
      }
      for (const k of r.comparisons) {
        const ours = byId.get(k.ours)!, theirs = byId.get(k.theirs)!;
        // Per-repetition ratios are the repetitions' speeds divided pairwise.
        const ratios = ours.decodeTokensPerSByRep.map((v, i) => v / theirs.decodeTokensPerSByRep[i])
          .sort((a, b) => a - b);
        assertAlmostEquals(k.perRep.min, ratios[0], 1e-9);
        assertAlmostEquals(k.perRep.max, ratios.at(-1)!, 1e-9);
        assert(
          run.stdout.includes(`${k.ours} vs ${k.theirs}: decode ${k.perRep.median.toFixed(2)}x`),
          `printed ratio of ${k.ours} vs ${k.theirs}`,
        );
      }
      const gpu = byId.get("ours-webgpu");
      if (gpu) {
        assert(gpu.gpuPerToken, "the WebGPU contender counts its transfers");
        // Only the logits come back per token: vocab × 4 bytes, nothing of the KV cache.
        assertEquals(gpu.gpuPerToken.readbackBytes, gpu.gpuPerToken.logitsBytes);
        assertEquals(gpu.gpuPerToken.beyondLogitsBytes, 0);
      }
    }
    assertEquals(cpu.comparisons.length, 3, "three CPU comparisons on the same runtime");

    const { vocab_size: vocabSize } = JSON.parse(await Deno.readTextFile(`${MODEL}/config.json`));
    // Beams: one batched call per step with `width` rows; greedy is 1× itself.
    for (const r of beams.runs) {
      assertEquals(r.widths.map((w) => w.width), [1, 4]);
      assertEquals(r.bestOf, 2);
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
    assert(beams.runs.some((r) => r.contender === "ours-wasm"));

    // Targets: each printed in the form, and judged by its bounds.
    assert(results.targets.length >= 6);
    for (const t of results.targets) {
      assert(run.stdout.includes(targetLine(t)), `printed: ${targetLine(t)}`);
      const q = t.direction === ">=" ? t.ratio.q1 : t.ratio.q3;
      const ok = (x: number, bound: number) => t.direction === ">=" ? x >= bound : x <= bound;
      assertEquals(t.met, ok(t.ratio.median, t.median) && ok(q, t.quartile), t.name);
    }
    assertMatch(
      run.stdout,
      /^target greedy\/embedded\/wasm: \d+\.\d\d× \(IQR \d+\.\d\d–\d+\.\d\d, n 2\) (met|missed)$/m,
    );
    assertMatch(run.stdout, /== decode embedded \(cpu\): .* 2 reps \(fastest of 2 each\)/);
    // Only a full run into data/bench rewrites the README's results.
    assert(!run.stdout.includes("bench/README.md"));
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
      if (out.includes("== decode ")) break;
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
