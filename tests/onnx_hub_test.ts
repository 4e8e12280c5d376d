import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { downloadModel, MODEL_FILES, resolveModelFolder } from "../lib/onnx/hub.ts";
import { modelGeometry } from "../lib/onnx/config.ts";

const MODEL = "data/models/brown-gpt2";

/** Serves `MODEL`'s files as `/<id>/resolve/main/<file>`, counting requests per path. */
function hubServer(options: { stall?: boolean } = {}) {
  const requests: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    if (options.stall) await new Promise((r) => setTimeout(r, 1_000));
    const m = path.match(/^\/test-owner\/tiny\/resolve\/main\/(.+)$/);
    if (!m) return new Response("no such repo", { status: 404 });
    try {
      return new Response(await Deno.readFile(`${MODEL}/${m[1]}`));
    } catch {
      return new Response("no such file", { status: 404 });
    }
  });
  return { server, requests, endpoint: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("an existing folder is used as is, without touching the network", async () => {
  assertEquals(await resolveModelFolder(MODEL, { endpoint: "http://127.0.0.1:9" }), MODEL);
});

Deno.test("a Hub id downloads every required file byte for byte, then hits the cache", async () => {
  const cacheDir = await Deno.makeTempDir();
  const { server, requests, endpoint } = hubServer();
  try {
    const lines: string[] = [];
    const folder = await downloadModel("test-owner/tiny", {
      endpoint,
      cacheDir,
      progress: (l) => lines.push(l),
    });
    assertEquals(folder, `${cacheDir}/test-owner/tiny`);
    for (const file of MODEL_FILES.required) {
      const got = await Deno.readFile(`${folder}/${file}`);
      const want = await Deno.readFile(`${MODEL}/${file}`);
      assertEquals(got.length, want.length, file);
      assert(got.every((b, i) => b === want[i]), `${file} differs`);
    }
    assert(lines.some((l) => l.startsWith("test-owner/tiny/onnx/model.onnx:")), lines.join("\n"));
    for await (const e of Deno.readDir(`${folder}/onnx`)) {
      assert(!e.name.includes(".partial-"), `leftover partial file ${e.name}`);
    }
    const before = requests.length;
    await downloadModel("test-owner/tiny", { endpoint, cacheDir, progress: () => {} });
    assertEquals(requests.length, before, "a second load must be served from the cache");
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a repository without an ONNX export fails naming it before any download", async () => {
  const cacheDir = await Deno.makeTempDir();
  // serves everything but onnx/model.onnx
  const requests: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(`${req.method} ${path}`);
    const m = path.match(/^\/test-owner\/no-onnx\/resolve\/main\/(.+)$/);
    if (!m || m[1].startsWith("onnx/")) return new Response("no such file", { status: 404 });
    return new Response(await Deno.readFile(`${MODEL}/${m[1]}`));
  });
  try {
    const error = await assertRejects(
      () =>
        downloadModel("test-owner/no-onnx", {
          endpoint: `http://127.0.0.1:${server.addr.port}`,
          cacheDir,
          progress: () => {},
        }),
      Error,
    );
    assertStringIncludes(error.message, "has no onnx/model.onnx (404)");
    assert(requests.every((r) => r.startsWith("HEAD ")), `downloaded before failing: ${requests}`);
    assertEquals([...Deno.readDirSync(cacheDir)].length, 0);
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("without a reachable Hub, loading an id fails at once and says what to do", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    // Port 9 (discard) on localhost refuses connections: the offline case, deterministically.
    const error = await assertRejects(
      () => resolveModelFolder("facebook/opt-350m", { endpoint: "http://127.0.0.1:9", cacheDir }),
      Error,
    );
    assertStringIncludes(error.message, "facebook/opt-350m");
    assertStringIncludes(error.message, "local model folder");
    assertEquals([...Deno.readDirSync(cacheDir)].length, 0, "nothing may be left in the cache");
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a Hub that accepts but never answers times out with a clear message", async () => {
  const cacheDir = await Deno.makeTempDir();
  const { server, endpoint } = hubServer({ stall: true });
  try {
    const error = await assertRejects(
      () => downloadModel("test-owner/tiny", { endpoint, cacheDir, connectTimeoutMs: 200 }),
      Error,
    );
    assertStringIncludes(error.message, "no answer within 200 ms");
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("the default Hub (huggingface.co) fails clearly here, where no hub is reachable", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const reachable = await fetch("https://huggingface.co", { signal: AbortSignal.timeout(5_000) })
      .then(() => true, () => false);
    if (reachable) return; // a machine with network would really download; nothing to check
    const error = await assertRejects(
      () => resolveModelFolder("onnx-community/gpt2", { cacheDir, connectTimeoutMs: 5_000 }),
      Error,
    );
    assertStringIncludes(error.message, "https://huggingface.co");
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("names that are neither folders nor Hub ids are rejected before any request", async () => {
  const error = await assertRejects(() => resolveModelFolder("no/such/folder"), Error);
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
