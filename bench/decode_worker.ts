/**
 * One generation contender, alone in its own Deno process so each library gets its own module
 * graph (transformers.js picks its onnxruntime once, at import) and the benchmark can alternate
 * contenders run by run. Spoken to by `bench/contender.ts` through JSON lines: a
 * `WorkerRequest` per stdin line, a `WorkerReply` per stdout line after
 * `REPLY_PREFIX` (see `protocol.ts`). (A Web Worker would share the process but onnxruntime-web's bundle
 * cannot resolve its own URL inside a Deno worker.)
 *
 * Contenders:
 * - `ours-cpu`, `ours-wasm`, `ours-webgpu`: this workspace's `OnnxCausalLM` + decoding engine
 *   on onnxruntime-node, onnxruntime-web's plain WASM build, and its WebGPU (JSEP) build;
 *   `ours-cpu-1thread` pins onnxruntime-node to one thread (a shared machine's second core
 *   may be busy with other virtual machines' work, which no load average here shows).
 * - `transformers.js-node`: transformers.js on onnxruntime-node (native CPU), its usual path
 *   under Deno with a filesystem, default threads; `transformers.js-node-1thread` pins it to
 *   one intra-op thread.
 * - `transformers.js-web-wasm`, `transformers.js-web-webgpu`: transformers.js on the very
 *   builds and backends ours uses (injected through `Symbol.for("onnxruntime")`, which
 *   transformers.js honours), with the same thread count, so only the generation loop differs.
 *
 * @example
 * ```ts
 * // deno run -A bench/decode_worker.ts, then on stdin:
 * // {"kind":"load","contender":"ours-wasm","model":"data/models/brown-gpt2"}
 * // {"kind":"run","promptIds":[464,318],"newTokens":8,"numBeams":1}
 * ```
 * @module
 */
import { gpuTraffic } from "./gpu_traffic.ts";
import type { Backend } from "../lib/onnx/backend.ts";
import type { GpuTrafficCounts } from "../lib/bench/results.ts";
import {
  type ContenderId,
  CONTENDERS,
  type ModelCall,
  REPLY_PREFIX,
  type WorkerReply,
  type WorkerRequest,
} from "./protocol.ts";

interface Runner {
  description: string;
  int8Head: boolean;
  /** Generates; calls `onToken` once per new token, as soon as it is chosen. */
  run(
    promptIds: number[],
    newTokens: number,
    numBeams: number,
    /** Ours: score the sequences (false: greedy tokens only); transformers.js never does. */
    scores: boolean,
    onToken: () => void,
  ): Promise<number[]>;
}

/** Wraps a session's `run` so every call's batch shape is recorded; every argument passes on. */
function countCalls(
  session: {
    run: (
      feeds: Record<string, { dims: readonly number[] }>,
      ...rest: unknown[]
    ) => Promise<unknown>;
  },
  calls: ModelCall[],
): void {
  const run = session.run.bind(session);
  session.run = async (feeds, ...rest) => {
    const ids = feeds.input_ids.dims;
    const t0 = performance.now();
    const out = await run(feeds, ...rest);
    calls.push({ rows: ids[0], tokens: ids[1], ms: performance.now() - t0 });
    return out;
  };
}

async function loadOurs(
  backend: Backend,
  model: string,
  threads: number,
  calls: ModelCall[],
): Promise<Runner> {
  const { OnnxCausalLM } = await import("../lib/onnx/causal_lm.ts");
  const { generate } = await import("../lib/decoding/generate.ts");
  const lm = await OnnxCausalLM.load(model, { backend, threads });
  countCalls(lm.session as unknown as Parameters<typeof countCalls>[0], calls);
  return {
    description: `this workspace (OnnxCausalLM + lib/decoding) on ` + {
      cpu: `onnxruntime-node (native CPU), ${lm.threads} intra-op thread(s)`,
      wasm: `onnxruntime-web WASM, ${lm.threads} thread(s)`,
      webgpu: "onnxruntime-web WebGPU",
    }[lm.backend] + (lm.rewrites.screenedArgmax ? ", int8-screened LM head for greedy" : ""),
    int8Head: lm.rewrites.screenedArgmax,
    run: async (promptIds, newTokens, numBeams, scores, onToken) => {
      const out = await generate(lm, promptIds, {
        maxNewTokens: newTokens,
        numBeams,
        eosTokenIds: [],
        ...(scores ? {} : { sequenceScores: false }),
        onStep: onToken,
      });
      return out.sequences[0].tokens;
    },
  };
}

async function loadTransformersJs(
  contender: ContenderId,
  model: string,
  threads: number,
  calls: ModelCall[],
): Promise<Runner> {
  let description: string;
  let sessionOptions: Record<string, unknown>;
  let device: string;
  if (contender === "transformers.js-web-wasm" || contender === "transformers.js-web-webgpu") {
    const gpu = contender === "transformers.js-web-webgpu";
    const { ortFor } = await import("../lib/onnx/backend.ts");
    // The builds ours runs: plain WASM with its threads, or JSEP for WebGPU.
    const ort = await ortFor(gpu ? "webgpu" : "wasm", threads);
    // transformers.js would point the WASM files at a CDN; serve them from the npm package.
    const url = import.meta.resolve(gpu ? "onnxruntime-web/webgpu" : "onnxruntime-web");
    ort.env.wasm.wasmPaths = url.slice(0, url.lastIndexOf("/") + 1);
    // Under Deno transformers.js passes model paths; onnxruntime-web would fetch() them.
    const create = ort.InferenceSession.create.bind(ort.InferenceSession);
    const file = async (p: unknown) => typeof p === "string" ? await Deno.readFile(p) : p;
    (globalThis as Record<symbol, unknown>)[Symbol.for("onnxruntime")] = {
      ...ort,
      InferenceSession: {
        create: async (p: unknown, o: unknown) =>
          create(await file(p) as Uint8Array, o as Record<string, never>),
      },
    };
    description = `transformers.js on onnxruntime-web ${ort.env.versions.web} ` +
      (gpu
        ? "WebGPU (injected runtime: transformers.js keeps its KV cache on the CPU then)"
        : `WASM, ${ort.env.wasm.numThreads} thread(s)`);
    device = "auto";
    sessionOptions = { executionProviders: [gpu ? "webgpu" : "wasm"] };
  } else {
    const oneThread = contender === "transformers.js-node-1thread";
    description = `transformers.js on onnxruntime-node (native CPU), ` +
      (oneThread ? "1 intra-op thread" : "default threads");
    device = "cpu";
    sessionOptions = oneThread ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : {};
  }
  const tjs = await import("@huggingface/transformers");
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  const slash = model.replace(/\/+$/, "").lastIndexOf("/");
  tjs.env.localModelPath = slash >= 0 ? model.slice(0, slash + 1) : "./";
  const name = model.replace(/\/+$/, "").slice(slash + 1);
  const lm = await tjs.AutoModelForCausalLM.from_pretrained(name, {
    dtype: "fp32",
    device: device as "cpu",
    session_options: sessionOptions,
  });
  for (const session of Object.values((lm as unknown as { sessions: object }).sessions)) {
    countCalls(session, calls);
  }
  return {
    description,
    int8Head: false,
    run: async (promptIds, newTokens, numBeams, _scores, onToken) => {
      const n = promptIds.length;
      // transformers.js calls put() with the prompt first, then once per chosen token.
      let prompted = false;
      const streamer = {
        put: () => prompted ? onToken() : (prompted = true, undefined),
        end: () => {},
      };
      const out = await lm.generate({
        input_ids: new tjs.Tensor("int64", BigInt64Array.from(promptIds, BigInt), [1, n]),
        attention_mask: new tjs.Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]),
        max_new_tokens: newTokens,
        do_sample: false,
        num_beams: numBeams,
        eos_token_id: [],
        streamer,
      } as Record<string, unknown>) as { tolist(): bigint[][] };
      return out.tolist()[0].map(Number).slice(n);
    },
  };
}

/** Serves one contender over stdin/stdout: load once, then timed runs, one JSON line each. */
async function serve(): Promise<void> {
  let runner: Runner | undefined;
  let webgpu = false;
  const calls: ModelCall[] = [];
  const reply = (m: WorkerReply) => console.log(REPLY_PREFIX + JSON.stringify(m));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of lines) {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() === "") continue;
      try {
        const request = JSON.parse(line) as WorkerRequest;
        if (request.kind === "load") {
          const { contender, model, threads } = request;
          if (!(CONTENDERS as readonly string[]).includes(contender)) {
            throw new RangeError(`unknown contender ${contender}; allowed: ${CONTENDERS}`);
          }
          webgpu = contender.endsWith("webgpu");
          if (webgpu) gpuTraffic();
          runner = contender.startsWith("ours-")
            ? await loadOurs(
              contender.replace(/^ours-|-1thread$/g, "") as Backend,
              model,
              contender.endsWith("-1thread") ? 1 : threads,
              calls,
            )
            : await loadTransformersJs(contender, model, threads, calls);
          reply({ kind: "loaded", description: runner.description, int8Head: runner.int8Head });
          continue;
        }
        if (!runner) throw new Error("run before load");
        const traffic = webgpu ? gpuTraffic() : undefined;
        let afterFirst: GpuTrafficCounts | undefined;
        const tokenMs: number[] = [];
        calls.length = 0;
        const t0 = performance.now();
        const tokens = await runner.run(
          request.promptIds,
          request.newTokens,
          request.numBeams,
          request.scores,
          () => {
            tokenMs.push(performance.now() - t0);
            if (tokenMs.length === 1) afterFirst = traffic?.snapshot();
          },
        );
        const ms = performance.now() - t0;
        reply({
          kind: "ran",
          tokens,
          ms,
          tokenMs,
          calls: [...calls],
          ...(traffic && afterFirst ? { gpuTraffic: traffic.since(afterFirst) } : {}),
        });
      } catch (e) {
        reply({
          kind: "error",
          message: e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e),
        });
      }
    }
  }
}

if (import.meta.main) await serve();
