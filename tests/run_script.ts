/**
 * Runs a workspace script in its own Deno process, as a user would from a shell, for the CLI
 * tests: all permissions, `NO_COLOR=1`, output captured as text.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runScript("lib/cli/beam.ts", ["--json"]);
 * code === 0 && JSON.parse(stdout);
 * ```
 * @module
 */

/** What a finished script left: its exit code and its two streams. */
export interface ScriptRun {
  /** Exit code. */
  code: number;
  /** Everything written to standard output. */
  stdout: string;
  /** Everything written to standard error. */
  stderr: string;
}

/** Where and with what environment a script runs. */
export interface RunOptions {
  /** Working folder (default the current one). */
  cwd?: string;
  /** Variables added to `NO_COLOR=1` and the inherited environment. */
  env?: Record<string, string>;
}

/**
 * Runs `deno run -A <script> <args…>` (in `cwd`, default the current folder) and waits for it.
 * @example
 * ```ts
 * (await runScript("lib/cli/intensity.ts", ["--dtype", "fp8"])).code; // 2
 * ```
 */
export async function runScript(
  script: string,
  args: readonly string[],
  where: string | RunOptions = {},
): Promise<ScriptRun> {
  const { cwd, env } = typeof where === "string" ? { cwd: where, env: {} } : where;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    ...(cwd === undefined ? {} : { cwd }),
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}
