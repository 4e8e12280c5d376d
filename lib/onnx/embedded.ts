/**
 * The embedded model: a small GPT-2 trained here on the Brown corpus, shipped in
 * `data/models/brown-gpt2` because these machines reach no model hub. How it is named in
 * commands and printouts, and where it is on disk wherever the caller runs (a notebook's
 * working directory is `notebooks/`, the CLI's the workspace root).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { EMBEDDED_MODEL, embeddedModelFolder, modelLabel } from "./embedded.ts";
 * assertEquals(modelLabel(embeddedModelFolder()), EMBEDDED_MODEL);
 * ```
 * @module
 */

/** The embedded model as commands name it. */
export const EMBEDDED_MODEL = "data/models/brown-gpt2";

/**
 * The embedded model's folder as an absolute path.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * assert(embeddedModelFolder().endsWith("data/models/brown-gpt2"));
 * ```
 */
export function embeddedModelFolder(): string {
  return decodeURIComponent(new URL(`../../${EMBEDDED_MODEL}`, import.meta.url).pathname);
}

/**
 * How a model folder is named in commands and printouts: the embedded model as
 * {@linkcode EMBEDDED_MODEL} however it was reached, anything else as given.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(modelLabel("some/other/model"), "some/other/model");
 * ```
 */
export function modelLabel(folder: string): string {
  const real = (path: string) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return path;
    }
  };
  return real(folder) === real(embeddedModelFolder()) ? EMBEDDED_MODEL : folder;
}
