import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { createHash } from "node:crypto";
import { downloadFiles, repoCacheFolder, repoSnapshot } from "../lib/onnx/hub.ts";
import { modelGeometry } from "../lib/onnx/config.ts";
import { resolveModel } from "../lib/onnx/model_source.ts";
import { startHubReplica } from "./hub_replica.ts";

const OPT = "tests/fixtures/hub/models/opt";
const quiet = { log: () => {}, progress: () => ({ update() {}, stop() {} }) };

async function withCache<T>(run: (cacheDir: string) => Promise<T>): Promise<T> {
  const cacheDir = await Deno.makeTempDir({ prefix: "hf-cache-test-" });
  try {
    return await run(cacheDir);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

Deno.test("an existing folder is used as is, without touching the network", async () => {
  const source = await resolveModel(OPT, {
    backend: "wasm",
    endpoint: "http://127.0.0.1:9",
    dtype: "fp32",
  });
  assertEquals([source.folder, source.files.graph, source.repo], [
    OPT,
    "onnx/model.onnx",
    undefined,
  ]);
});

Deno.test("a repository lists through @huggingface/hub across pages, with its commit", async () => {
  const hub = await startHubReplica({ pageSize: 3 });
  try {
    await withCache(async (cacheDir) => {
      const s = await repoSnapshot("Xenova/opt-350m", {
        endpoint: hub.endpoint,
        cacheDir,
        ...quiet,
      });
      assertEquals(s.commit, hub.commits["Xenova/opt-350m"]);
      assertEquals(s.files.length, 10, "every file across 4 pages of 3 (plus the onnx folder)");
      const graph = s.files.find((f) => f.path === "onnx/model.onnx")!;
      assertEquals([graph.lfs, graph.etag], [true, await sha256(`${OPT}/onnx/model.onnx`)]);
      assert(hub.requests.filter((r) => r.includes("/tree/")).length >= 4, hub.requests.join("\n"));
    });
  } finally {
    await hub.close();
  }
});

Deno.test("downloads land in the standard HF cache layout, byte for byte, then are reused", async () => {
  const hub = await startHubReplica();
  try {
    await withCache(async (cacheDir) => {
      const options = { endpoint: hub.endpoint, cacheDir, ...quiet };
      const snapshot = await repoSnapshot("Xenova/opt-350m", options);
      const folder = await downloadFiles(snapshot, ["config.json", "onnx/model.onnx"], options);
      const repo = repoCacheFolder("Xenova/opt-350m", cacheDir);
      assertEquals(repo, `${cacheDir}/models--Xenova--opt-350m`);
      assertEquals(folder, `${repo}/snapshots/${snapshot.commit}`);
      assertEquals((await Deno.readTextFile(`${repo}/refs/main`)).trim(), snapshot.commit);
      const link = await Deno.readLink(`${folder}/onnx/model.onnx`);
      assertEquals(link, `../../../blobs/${await sha256(`${OPT}/onnx/model.onnx`)}`);
      assertEquals(
        await sha256(`${folder}/onnx/model.onnx`),
        await sha256(`${OPT}/onnx/model.onnx`),
      );
      const configBlob = await Deno.readLink(`${folder}/config.json`);
      assertMatch(
        configBlob,
        /^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/,
        "a Git blob SHA-1 for a small file",
      );
      const blobs = [...Deno.readDirSync(`${repo}/blobs`)].map((e) => e.name);
      assert(blobs.every((b) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(b)), `leftovers: ${blobs}`);
      const before = hub.requests.length;
      await downloadFiles(snapshot, ["config.json", "onnx/model.onnx"], options);
      assertEquals(hub.requests.length, before, "a second call must be served from the cache");
    });
  } finally {
    await hub.close();
  }
});

Deno.test("an interrupted download resumes with a range request and finishes intact", async () => {
  const hub = await startHubReplica({ cutAfterBytes: 300_000 });
  try {
    await withCache(async (cacheDir) => {
      const options = { endpoint: hub.endpoint, cacheDir, ...quiet };
      const snapshot = await repoSnapshot("Xenova/opt-350m", options);
      const error = await assertRejects(
        () => downloadFiles(snapshot, ["onnx/model.onnx"], options),
        Error,
      );
      assertStringIncludes(error.message, "the next run resumes");
      const blob = `${repoCacheFolder("Xenova/opt-350m", cacheDir)}/blobs/` +
        snapshot.files.find((f) => f.path === "onnx/model.onnx")!.etag;
      assertEquals((await Deno.stat(`${blob}.incomplete`)).size, 300_000);
      const folder = await downloadFiles(snapshot, ["onnx/model.onnx"], options);
      assertEquals(
        await sha256(`${folder}/onnx/model.onnx`),
        await sha256(`${OPT}/onnx/model.onnx`),
      );
      assert(hub.requests.some((r) => r.startsWith("GET /cdn/")), "served through the CDN path");
      await assertRejects(() => Deno.stat(`${blob}.incomplete`), Deno.errors.NotFound);
    });
  } finally {
    await hub.close();
  }
});

Deno.test("a body slower than the connect timeout still arrives while bytes keep coming", async () => {
  // The graph takes about 11 s, more than the old whole-request timeout of 10 s.
  const size = (await Deno.stat(`${OPT}/onnx/model.onnx`)).size;
  const hub = await startHubReplica({ bytesPerSecond: size / 11 });
  try {
    await withCache(async (cacheDir) => {
      const options = { endpoint: hub.endpoint, cacheDir, connectTimeoutMs: 2_000, ...quiet };
      const snapshot = await repoSnapshot("Xenova/opt-350m", options);
      const t0 = performance.now();
      const folder = await downloadFiles(snapshot, ["onnx/model.onnx"], options);
      const seconds = (performance.now() - t0) / 1000;
      assert(seconds > 10, `the throttle must really slow the body (took ${seconds} s)`);
      assertEquals(
        await sha256(`${folder}/onnx/model.onnx`),
        await sha256(`${OPT}/onnx/model.onnx`),
      );
    });
  } finally {
    await hub.close();
  }
});

Deno.test("a body that stops sending fails after the stall timeout, to be resumed", async () => {
  const hub = await startHubReplica({ bytesPerSecond: 4_000 }); // 16 KB chunks every 4 s
  try {
    await withCache(async (cacheDir) => {
      const options = { endpoint: hub.endpoint, cacheDir, stallTimeoutMs: 1_000, ...quiet };
      const snapshot = await repoSnapshot("Xenova/opt-350m", options);
      const error = await assertRejects(
        () => downloadFiles(snapshot, ["onnx/model.onnx"], options),
        Error,
      );
      assertStringIncludes(error.message, "no data for 1 s");
      assertStringIncludes(error.message, "the next run resumes");
    });
  } finally {
    await hub.close();
  }
});

Deno.test("offline with a warm cache works; offline with a cold cache fails at once", async () => {
  const hub = await startHubReplica();
  try {
    await withCache(async (cacheDir) => {
      const online = { endpoint: hub.endpoint, cacheDir, ...quiet };
      const warm = await resolveModel("Xenova/opt-350m", { ...online, backend: "wasm" });
      await hub.close();
      const offline = { endpoint: "http://127.0.0.1:9", cacheDir, offline: true, ...quiet };
      const again = await resolveModel("Xenova/opt-350m", { ...offline, backend: "wasm" });
      assertEquals([again.folder, again.files.graph], [warm.folder, warm.files.graph]);
      const t0 = performance.now();
      const error = await assertRejects(
        () => resolveModel("HuggingFaceTB/SmolLM2-135M-Instruct", { ...offline, backend: "wasm" }),
        Error,
      );
      assert(performance.now() - t0 < 1_000, "a cold offline cache must fail at once");
      assertStringIncludes(error.message, "HF_HUB_OFFLINE is set");
      assertStringIncludes(error.message, cacheDir);
      const wrongDtype = await assertRejects(
        () => resolveModel("Xenova/opt-350m", { ...offline, backend: "wasm", dtype: "fp16" }),
        Error,
      );
      assertStringIncludes(wrongDtype.message, "no fp16 file");
    });
  } finally {
    await hub.close().catch(() => {});
  }
});

Deno.test("an unreachable Hub falls back to a cached snapshot, saying so", async () => {
  const hub = await startHubReplica();
  try {
    await withCache(async (cacheDir) => {
      await resolveModel("Xenova/opt-350m", {
        endpoint: hub.endpoint,
        cacheDir,
        backend: "wasm",
        ...quiet,
      });
      const lines: string[] = [];
      const source = await resolveModel("Xenova/opt-350m", {
        endpoint: "http://127.0.0.1:9",
        cacheDir,
        backend: "wasm",
        ...quiet,
        log: (l) => lines.push(l),
      });
      assertEquals(source.files.dtype, "q8");
      assertStringIncludes(lines.join("\n"), "using the cached snapshot");
    });
  } finally {
    await hub.close();
  }
});

Deno.test("without a reachable Hub and no cache, loading an id fails at once and says what to do", async () => {
  await withCache(async (cacheDir) => {
    const error = await assertRejects(
      () =>
        resolveModel("facebook/opt-350m", {
          endpoint: "http://127.0.0.1:9",
          cacheDir,
          backend: "wasm",
          ...quiet,
        }),
      Error,
    );
    assertStringIncludes(
      error.message,
      'cannot reach the Hugging Face Hub for "facebook/opt-350m"',
    );
    assertStringIncludes(error.message, "local model folder");
    assertEquals([...Deno.readDirSync(cacheDir)].length, 0, "nothing may be left in the cache");
  });
});

Deno.test("a Hub that accepts but never answers times out with a clear message", async () => {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async () => {
    await new Promise((r) => setTimeout(r, 1_000));
    return new Response("late");
  });
  try {
    await withCache(async (cacheDir) => {
      const error = await assertRejects(
        () =>
          repoSnapshot("Xenova/opt-350m", {
            endpoint: `http://127.0.0.1:${server.addr.port}`,
            cacheDir,
            connectTimeoutMs: 200,
            ...quiet,
          }),
        Error,
      );
      assertStringIncludes(error.message, "no answer within 200 ms");
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("an unknown repository and a missing tokenizer.json are named clearly", async () => {
  const hub = await startHubReplica();
  try {
    await withCache(async (cacheDir) => {
      const options = { endpoint: hub.endpoint, cacheDir, backend: "wasm" as const, ...quiet };
      const unknown = await assertRejects(() => resolveModel("acme/nothing-here", options), Error);
      assertStringIncludes(unknown.message, 'no model "acme/nothing-here" at revision main');
      const noTokenizer = await assertRejects(
        () => resolveModel("replica/no-tokenizer-json", options),
        Error,
      );
      assertStringIncludes(noTokenizer.message, "replica/no-tokenizer-json has no tokenizer.json");
      const badRevision = await assertRejects(
        () => resolveModel("Xenova/opt-350m", { ...options, revision: "v9" }),
        Error,
      );
      assertStringIncludes(badRevision.message, "at revision v9");
    });
  } finally {
    await hub.close();
  }
});

Deno.test("HF_TOKEN reaches a gated repository; without it the error says to set it", async () => {
  const hub = await startHubReplica({ token: "hf_test_token" });
  const saved = Deno.env.get("HF_TOKEN");
  try {
    await withCache(async (cacheDir) => {
      const options = { endpoint: hub.endpoint, cacheDir, backend: "wasm" as const, ...quiet };
      Deno.env.delete("HF_TOKEN");
      const error = await assertRejects(() => resolveModel("Xenova/opt-350m", options), Error);
      assertStringIncludes(error.message, "(HTTP 401)");
      assertStringIncludes(error.message, "set HF_TOKEN");
      Deno.env.set("HF_TOKEN", "hf_test_token");
      const source = await resolveModel("Xenova/opt-350m", options);
      assertEquals(source.files.graph, "onnx/model_quantized.onnx");
    });
  } finally {
    if (saved === undefined) Deno.env.delete("HF_TOKEN");
    else Deno.env.set("HF_TOKEN", saved);
    await hub.close();
  }
});

Deno.test("the handout's facebook/opt-350m resolves to Xenova/opt-350m and says so", async () => {
  const hub = await startHubReplica();
  try {
    await withCache(async (cacheDir) => {
      const lines: string[] = [];
      const source = await resolveModel("facebook/opt-350m", {
        endpoint: hub.endpoint,
        cacheDir,
        backend: "wasm",
        ...quiet,
        log: (l) => lines.push(l),
      });
      assertEquals(lines[0], "facebook/opt-350m -> Xenova/opt-350m (ONNX export)");
      assertEquals([source.repo, source.files.graph], [
        "Xenova/opt-350m",
        "onnx/model_quantized.onnx",
      ]);
      assertMatch(lines[1], /^Xenova\/opt-350m @ [0-9a-f]{7}: downloading 4 files, [\d.]+ MB/);
    });
  } finally {
    await hub.close();
  }
});

Deno.test("names that are neither folders nor Hub ids are rejected before any request", async () => {
  const error = await assertRejects(
    () => resolveModel("no/such/folder", { backend: "wasm", endpoint: "http://127.0.0.1:9" }),
    Error,
  );
  assertStringIncludes(error.message, "neither an existing folder nor a Hugging Face Hub id");
});

Deno.test("config geometry: GPT-2 names, Llama names with GQA, and a missing field", () => {
  const gpt2 = modelGeometry(
    { model_type: "gpt2", n_layer: 12, n_head: 12, n_embd: 768, vocab_size: 50257 },
    { eos_token_id: 50256 },
  );
  assertEquals([gpt2.layers, gpt2.heads, gpt2.kvHeads, gpt2.headDim], [12, 12, 12, 768 / 12]);
  assertEquals(gpt2.eosTokenIds, [50256]);
  const llama = modelGeometry({
    model_type: "llama",
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    hidden_size: 2048,
    vocab_size: 128256,
    eos_token_id: [128001, 128009],
  });
  assertEquals([llama.layers, llama.heads, llama.kvHeads, llama.headDim], [16, 32, 8, 2048 / 32]);
  assertEquals(llama.eosTokenIds, [128001, 128009]);
  let message = "";
  try {
    modelGeometry({ model_type: "opt", hidden_size: 1024, vocab_size: 10 });
  } catch (e) {
    message = (e as Error).message;
  }
  assertStringIncludes(message, "n_layer / num_hidden_layers");
});
