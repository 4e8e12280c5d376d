/**
 * Headless Chromium as a tool: find it, print a page to PDF, or dump a page's DOM after its
 * scripts have run. Every launch gets a fresh temporary profile and no network chatter.
 *
 * @example
 * ```ts
 * import { dumpDom, findChromium } from "./chromium.ts";
 * const chrome = findChromium();
 * const dom = await dumpDom(chrome, "file:///tmp/page.html");
 * ```
 * @module
 */
import { ownedTempDir, releaseTemp, spawnOwned } from "./processes.ts";

/** Where Chromium or Chrome usually lives, tried in order after `$CHROME_PATH`. */
export const CHROMIUM_CANDIDATES: readonly string[] = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
  "/snap/bin/chromium",
  "/opt/google/chrome/chrome",
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  "/Applications/Chromium.app/Contents/MacOS/Chromium",
];

/** How to install Chromium, for error messages. */
export const INSTALL_CHROMIUM_HINT: string =
  "install Chromium (Debian: sudo apt-get install chromium, or run deno task setup), " +
  "or set CHROME_PATH to a Chrome/Chromium executable";

/**
 * The Chromium executable: `$CHROME_PATH` if set (it must exist), else the first of
 * {@linkcode CHROMIUM_CANDIDATES} that exists.
 * @example
 * ```ts
 * findChromium(); // "/usr/bin/chromium" on Debian
 * ```
 */
export function findChromium(): string {
  const fromEnv = Deno.env.get("CHROME_PATH");
  if (fromEnv) {
    if (!isFile(fromEnv)) {
      throw new Error(`CHROME_PATH=${fromEnv} does not exist; ${INSTALL_CHROMIUM_HINT}`);
    }
    return fromEnv;
  }
  const found = CHROMIUM_CANDIDATES.find(isFile);
  if (!found) {
    throw new Error(
      `no Chromium found (tried ${CHROMIUM_CANDIDATES.join(", ")}); ${INSTALL_CHROMIUM_HINT}`,
    );
  }
  return found;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Options of a Chromium run. */
export interface ChromiumOptions {
  /** Virtual time the page's scripts get before the command runs (default 10 s). */
  virtualTimeBudgetMs?: number;
  /** Wall-clock limit for the whole run (default 120 s). */
  timeoutMs?: number;
}

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--disable-extensions",
  "--hide-scrollbars",
  "--mute-audio",
];

async function run(
  chrome: string,
  args: string[],
  options: ChromiumOptions,
): Promise<{ stdout: Uint8Array; stderr: string }> {
  const profile = await ownedTempDir("chromium-profile-");
  const timeoutMs = options.timeoutMs ?? 120_000;
  // Chromium's own scratch files (org.chromium.Chromium.*, its singleton socket) go in a
  // folder of the run's too; a short name, as a socket path must fit in 107 bytes.
  const scratch = await ownedTempDir("cr-");
  try {
    // Its own process group: a Ctrl-C reaches only the report, which ends the whole group.
    const child = spawnOwned(chrome, {
      dieWithParent: true,
      args: [
        ...FLAGS,
        `--user-data-dir=${profile}`,
        `--virtual-time-budget=${options.virtualTimeBudgetMs ?? 10_000}`,
        ...args,
      ],
      env: { TMPDIR: scratch },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const timer = setTimeout(() => {
      try {
        // The whole group: Chromium's helpers outlive a killed browser process.
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // Already exited.
      }
    }, timeoutMs);
    const out = await child.output();
    clearTimeout(timer);
    const stderr = new TextDecoder().decode(out.stderr);
    if (!out.success) {
      throw new Error(
        `${chrome} failed (${
          out.signal ? `killed after ${timeoutMs} ms` : `exit ${out.code}`
        }):\n` +
          meaningfulStderr(stderr),
      );
    }
    return { stdout: out.stdout, stderr };
  } finally {
    for (const dir of [profile, scratch]) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      releaseTemp(dir);
    }
  }
}

/** Chromium's stderr without the D-Bus and GPU noise a headless container always produces. */
function meaningfulStderr(stderr: string): string {
  return stderr.split("\n").filter((l) => l && !/dbus|XDG_RUNTIME_DIR|gpu|GPU/.test(l)).slice(-20)
    .join("\n");
}

/**
 * Loads `url`, lets its scripts run, and prints it to a PDF at `pdfPath` (no header/footer;
 * page size and margins from the page's CSS `@page`).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/page.html`, "<p>Hello</p>");
 * await printToPdf(findChromium(), `file://${dir}/page.html`, `${dir}/page.pdf`);
 * assertEquals(new TextDecoder().decode((await Deno.readFile(`${dir}/page.pdf`)).slice(0, 4)), "%PDF");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function printToPdf(
  chrome: string,
  url: string,
  pdfPath: string,
  options: ChromiumOptions = {},
): Promise<void> {
  await run(chrome, [
    "--run-all-compositor-stages-before-draw",
    `--print-to-pdf=${pdfPath}`,
    "--no-pdf-header-footer",
    "--generate-pdf-document-outline",
    url,
  ], options);
  const head = await Deno.open(pdfPath).then(async (f) => {
    const buf = new Uint8Array(5);
    await f.read(buf);
    f.close();
    return new TextDecoder().decode(buf);
  }, () => "");
  if (head !== "%PDF-") throw new Error(`Chromium wrote no PDF at ${pdfPath}`);
}

/**
 * Loads `url`, lets its scripts run for the virtual time budget, and returns the DOM as HTML.
 * @example
 * ```ts
 * const html = await dumpDom(findChromium(), "file:///tmp/page.html");
 * ```
 */
export async function dumpDom(
  chrome: string,
  url: string,
  options: ChromiumOptions = {},
): Promise<string> {
  const { stdout } = await run(chrome, ["--dump-dom", url], options);
  return new TextDecoder().decode(stdout);
}
