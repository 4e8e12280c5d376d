/**
 * Progress of a model download on stderr: on a terminal a `cli-progress` bar with bytes, rate
 * and ETA; otherwise plain lines (at most one per 10% or per 5 s), so logs and notebooks stay
 * readable.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lineProgress } from "./download_progress.ts";
 * const lines: string[] = [];
 * const progress = lineProgress("acme/tiny", 2_000_000, (l) => lines.push(l), () => 0);
 * progress.update(2_000_000, "onnx/model.onnx");
 * progress.stop();
 * assertEquals(lines.at(-1), "acme/tiny: 2.0 of 2.0 MB (100%) done");
 * ```
 * @module
 */
import process from "node:process";
import cliProgress from "cli-progress";

/** Receives a download's progress. */
export interface DownloadProgress {
  /** `doneBytes` of all files so far, `file` the one being fetched. */
  update(doneBytes: number, file: string): void;
  /** The download ended (done or failed). */
  stop(): void;
}

/**
 * The progress display for this process: a bar on a terminal stderr, lines otherwise.
 * @example
 * ```ts
 * const progress = downloadProgress("acme/tiny", 1000);
 * progress.update(1000, "config.json");
 * progress.stop();
 * ```
 */
export function downloadProgress(label: string, totalBytes: number): DownloadProgress {
  return Deno.stderr.isTerminal()
    ? barProgress(label, totalBytes)
    : lineProgress(label, totalBytes, (line) => console.error(line));
}

/**
 * Plain progress lines through `write`; `now` (milliseconds) is injectable for tests.
 * @example
 * ```ts
 * import { assertMatch } from "@std/assert";
 * let t = 0;
 * const lines: string[] = [];
 * const p = lineProgress("acme/tiny", 10_000_000, (l) => lines.push(l), () => t);
 * t = 1000;
 * p.update(5_000_000, "onnx/model.onnx");
 * assertMatch(lines[0], /5\.0 of 10\.0 MB \(50%\), 5\.0 MB\/s, ETA 1s, onnx\/model\.onnx/);
 * ```
 */
export function lineProgress(
  label: string,
  totalBytes: number,
  write: (line: string) => void,
  now: () => number = () => performance.now(),
): DownloadProgress {
  const start = now();
  let lastTime = start, lastFraction = 0, last = 0;
  return {
    update(done, file) {
      last = done;
      const t = now(), fraction = totalBytes > 0 ? done / totalBytes : 1;
      if (fraction < 1 && fraction - lastFraction < 0.1 && t - lastTime < 5_000) return;
      lastTime = t;
      lastFraction = fraction;
      const rate = done / Math.max((t - start) / 1000, 1e-3);
      const eta = rate > 0 ? (totalBytes - done) / rate : Infinity;
      write(
        `${label}: ${mb(done)} of ${mb(totalBytes)} MB (${Math.floor(fraction * 100)}%), ` +
          `${mb(rate)} MB/s, ETA ${duration(eta)}, ${file}`,
      );
    },
    stop() {
      if (last >= totalBytes) write(`${label}: ${mb(last)} of ${mb(totalBytes)} MB (100%) done`);
    },
  };
}

function barProgress(label: string, totalBytes: number): DownloadProgress {
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} {bar} {percentage}% | {done}/{all} MB | {rate} MB/s | ETA {left} | {file}`,
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  const start = performance.now();
  bar.start(totalBytes, 0, { done: mb(0), all: mb(totalBytes), rate: "-", left: "-", file: "" });
  return {
    update(done, file) {
      const seconds = Math.max((performance.now() - start) / 1000, 1e-3);
      const rate = done / seconds;
      bar.update(done, {
        done: mb(done),
        all: mb(totalBytes),
        rate: mb(rate),
        left: rate > 0 ? duration((totalBytes - done) / rate) : "-",
        file,
      });
    },
    stop: () => bar.stop(),
  };
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "-";
  const s = Math.ceil(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}
