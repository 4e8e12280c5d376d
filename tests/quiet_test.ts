// A quiet terminal: no Mesa XDG_RUNTIME_DIR noise from the CLIs, a second setup prints nothing,
// and timing cells keep their saved outputs so a rerun leaves the notebook as it was.
import { assert, assertEquals, assertNotEquals, assertStringIncludes } from "@std/assert";
import { executeNotebook } from "../lib/notebook/execute.ts";
import { codeCell, denoNotebook } from "./notebook_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("question3 (WebGPU where it exists) prints no XDG_RUNTIME_DIR line", async () => {
  const env = Deno.env.toObject();
  delete env.XDG_RUNTIME_DIR;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/question3.ts", "--output_len", "3", "--verbose"],
    cwd: ROOT,
    clearEnv: true,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, stderr);
  assertStringIncludes(stderr, "backend:");
  assert(!stderr.includes("XDG_RUNTIME_DIR"), stderr);
});

Deno.test("a second setup prints nothing", async () => {
  for (let run = 0; run < 2; run++) {
    const out = await new Deno.Command("bash", {
      args: ["tools/setup.sh"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    if (run === 1) {
      assertEquals(new TextDecoder().decode(out.stdout), "");
      assertEquals(new TextDecoder().decode(out.stderr), "");
    }
  }
});

Deno.test("timing cells keep their saved outputs unless refreshed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "timing-cells-" });
  const path = `${dir}/t.ipynb`;
  await Deno.writeTextFile(
    path,
    denoNotebook([
      codeCell("const t = performance.now() + Math.random();\nt", { tags: ["timing"] }),
      codeCell("1 + 1"),
    ]),
  );
  try {
    await executeNotebook(path, { keepOutputsTagged: "timing" }); // first run: no saved output
    const first = await Deno.readTextFile(path);
    await executeNotebook(path, { keepOutputsTagged: "timing" });
    assertEquals(await Deno.readTextFile(path), first, "a rerun leaves the file as it was");
    await executeNotebook(path); // refreshed
    assertNotEquals(await Deno.readTextFile(path), first, "a refresh takes the new timing");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
