/**
 * Processor presets for the roofline: peak FLOP/s per element type and memory bandwidth, each
 * with its source. Presets live in `data/hardware.json`; measurements of this machine go in
 * `data/hardware-measured.json` (same schema, optional, loaded when present and marked
 * `measured`). A file maps an id to:
 *
 * ```json
 * { "name": "…", "peakFlopsPerS": { "fp16": 125e12, "fp32": 15.7e12 },
 *   "memoryGbPerS": 900, "memoryGb": 32, "l2GbPerS": 3100,
 *   "sources": { "peakFlopsPerS": "datasheet …", "memoryGbPerS": "…", "memoryGb": "…",
 *     "l2GbPerS": "…" } }
 * ```
 *
 * Every figure an entry gives has its own source (a measured entry may give one `source` for
 * all). Peaks are dense tensor-core figures (half the "with sparsity" ones).
 *
 * @example
 * ```ts
 * import { hardwareRoof, loadHardware } from "./hardware.ts";
 * const v100 = loadHardware().v100;
 * hardwareRoof(v100, "fp16").peakFlopsPerS; // 125e12
 * ```
 * @module
 */
import { type Dtype, DTYPES } from "./config.ts";
import type { Roof } from "./roofline.ts";

/** A processor's peaks. */
export interface Hardware {
  /** Key in the data file (`v100`, `a100`, …). */
  readonly id: string;
  /** Human-readable name. */
  readonly name: string;
  /** Peak FLOP/s (OP/s for int8) per element type; a missing type has no fast path. */
  readonly peakFlopsPerS: Readonly<Partial<Record<Dtype, number>>>;
  /** Off-chip memory bandwidth, GB/s (10⁹ bytes per second). */
  readonly memoryGbPerS: number;
  /** On-chip L2 bandwidth, GB/s, when known. */
  readonly l2GbPerS?: number;
  /** Memory capacity, GB (10⁹ bytes), when known. */
  readonly memoryGb?: number;
  /** Where each figure comes from, by figure (`peakFlopsPerS`, `memoryGbPerS`, …). */
  readonly sources: Readonly<Record<string, string>>;
  /** All sources in one line. */
  readonly source: string;
  /** True when measured on this machine rather than taken from a datasheet. */
  readonly measured: boolean;
}

/** One entry of a hardware data file, as written (the id is its key). */
export interface HardwareEntry {
  /** Human-readable name. */
  name: string;
  /** Peak FLOP/s per element type. */
  peakFlopsPerS: Partial<Record<Dtype, number>>;
  /** Off-chip memory bandwidth, GB/s. */
  memoryGbPerS: number;
  /** On-chip L2 bandwidth, GB/s, when known. */
  l2GbPerS?: number;
  /** Memory capacity, GB, when known. */
  memoryGb?: number;
  /** Where each figure comes from. */
  sources?: Record<string, string>;
  /** Where all figures come from (measured entries). */
  source?: string;
  /** ISO time of a measurement, for measured entries. */
  measuredAt?: string;
}

/**
 * The presets' data file.
 * @example
 * ```ts
 * JSON.parse(Deno.readTextFileSync(HARDWARE_FILE)).v100.memoryGbPerS; // 900
 * ```
 */
export const HARDWARE_FILE: URL = new URL("../../data/hardware.json", import.meta.url);

/**
 * Measurements of this machine (optional; written by the benchmark).
 * @example
 * ```ts
 * loadHardware(HARDWARE_FILE, MEASURED_HARDWARE_FILE);
 * ```
 */
export const MEASURED_HARDWARE_FILE: URL = new URL(
  "../../data/hardware-measured.json",
  import.meta.url,
);

/**
 * Validates one data file's parsed JSON into hardware entries.
 * @throws {TypeError} naming the file, entry and field that is wrong.
 * @example
 * ```ts
 * parseHardware({ x: { name: "X", peakFlopsPerS: { fp16: 1e12 }, memoryGbPerS: 100,
 *   source: "test" } }, "inline", false);
 * ```
 */
export function parseHardware(json: unknown, origin: string, measured: boolean): Hardware[] {
  const fail = (what: string): never => {
    throw new TypeError(`${origin}: ${what}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    fail("expected an object mapping hardware ids to entries");
  }
  const positive = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0;
  return Object.entries(json as Record<string, Record<string, unknown>>).map(([id, e]) => {
    if (typeof e !== "object" || e === null) fail(`entry "${id}" must be an object`);
    if (typeof e.name !== "string") fail(`entry "${id}": name must be a string`);
    if (!positive(e.memoryGbPerS)) fail(`entry "${id}": memoryGbPerS must be a positive number`);
    for (const key of ["l2GbPerS", "memoryGb"]) {
      if (e[key] !== undefined && !positive(e[key])) {
        fail(`entry "${id}": ${key} must be a positive number when given`);
      }
    }
    const peaks = e.peakFlopsPerS as Record<string, unknown>;
    if (typeof peaks !== "object" || peaks === null || Object.keys(peaks).length === 0) {
      fail(`entry "${id}": peakFlopsPerS must map at least one dtype to FLOP/s`);
    }
    for (const [dtype, v] of Object.entries(peaks)) {
      if (!(DTYPES as readonly string[]).includes(dtype)) {
        fail(`entry "${id}": unknown dtype "${dtype}"; allowed: ${DTYPES.join(", ")}`);
      }
      if (!positive(v)) fail(`entry "${id}": peakFlopsPerS.${dtype} must be a positive number`);
    }
    const figures = ["peakFlopsPerS", "memoryGbPerS", "l2GbPerS", "memoryGb"].filter((k) =>
      e[k] !== undefined
    );
    const sources: Record<string, string> = {};
    if (typeof e.source === "string" && e.source !== "") {
      for (const k of figures) sources[k] = e.source;
    } else if (typeof e.sources === "object" && e.sources !== null) {
      const given = e.sources as Record<string, unknown>;
      for (const k of figures) {
        if (typeof given[k] !== "string" || given[k] === "") {
          fail(`entry "${id}": sources.${k} must say where ${k} comes from`);
        }
        sources[k] = given[k] as string;
      }
    } else {
      fail(`entry "${id}": sources must say where each figure comes from`);
    }
    return {
      id,
      name: e.name as string,
      peakFlopsPerS: peaks as Partial<Record<Dtype, number>>,
      memoryGbPerS: e.memoryGbPerS as number,
      ...(e.l2GbPerS === undefined ? {} : { l2GbPerS: e.l2GbPerS as number }),
      ...(e.memoryGb === undefined ? {} : { memoryGb: e.memoryGb as number }),
      sources,
      source: [...new Set(Object.values(sources))].join("; "),
      measured,
    };
  });
}

/**
 * All hardware presets by id, from `data/hardware.json` and, when present,
 * `data/hardware-measured.json` (a measured entry may not reuse a preset's id).
 * @example
 * ```ts
 * Object.keys(loadHardware()); // ["v100", "a100", "h100", …measured]
 * ```
 */
export function loadHardware(
  presets: URL = HARDWARE_FILE,
  measured: URL = MEASURED_HARDWARE_FILE,
): Record<string, Hardware> {
  const all: Record<string, Hardware> = {};
  const read = (url: URL, isMeasured: boolean) => {
    const text = Deno.readTextFileSync(url);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new TypeError(`${url.pathname}: not valid JSON (${(e as Error).message})`);
    }
    for (const hw of parseHardware(json, url.pathname, isMeasured)) {
      if (all[hw.id]) throw new TypeError(`${url.pathname}: hardware id "${hw.id}" repeats`);
      all[hw.id] = hw;
    }
  };
  read(presets, false);
  try {
    Deno.statSync(measured);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return all;
    throw e;
  }
  read(measured, true);
  return all;
}

/**
 * The entry `id` of `hardware`.
 * @throws {RangeError} naming the unknown id and the known ones.
 * @example
 * ```ts
 * findHardware(loadHardware(), "h100").memoryGbPerS; // 3350
 * ```
 */
export function findHardware(hardware: Record<string, Hardware>, id: string): Hardware {
  const hw = Object.hasOwn(hardware, id) ? hardware[id] : undefined;
  if (!hw) {
    throw new RangeError(`unknown hardware "${id}"; known: ${Object.keys(hardware).join(", ")}`);
  }
  return hw;
}

/**
 * The roof of `hardware` for `dtype` against off-chip memory (`dram`) or L2.
 * @throws {RangeError} when the hardware lists no peak for `dtype` or no L2 bandwidth.
 * @example
 * ```ts
 * const roof = hardwareRoof(loadHardware().v100, "fp16", "l2");
 * roof.bandwidthBytesPerS; // 3.1e12
 * ```
 */
export function hardwareRoof(
  hardware: Hardware,
  dtype: Dtype,
  memory: "dram" | "l2" = "dram",
): Roof {
  const peak = hardware.peakFlopsPerS[dtype];
  if (peak === undefined) {
    throw new RangeError(
      `hardware "${hardware.id}" lists no ${dtype} peak; it lists: ` +
        Object.keys(hardware.peakFlopsPerS).join(", "),
    );
  }
  const gbPerS = memory === "dram" ? hardware.memoryGbPerS : hardware.l2GbPerS;
  if (gbPerS === undefined) {
    throw new RangeError(`hardware "${hardware.id}" lists no ${memory} bandwidth`);
  }
  return {
    id: memory === "dram" ? hardware.id : `${hardware.id}-l2`,
    name: `${hardware.name}${memory === "l2" ? " (L2)" : ""}`,
    peakFlopsPerS: peak,
    bandwidthBytesPerS: gbPerS * 1e9,
    ...(hardware.memoryGb === undefined ? {} : { memoryBytes: hardware.memoryGb * 1e9 }),
  };
}

/**
 * Roofs of the measured entries (this machine), at `dtype` when measured, else at the first
 * element type the entry lists; empty when `data/hardware-measured.json` is absent.
 * @example
 * ```ts
 * measuredRoofs(loadHardware(), "fp16").length; // 0 until the benchmark has run
 * ```
 */
export function measuredRoofs(hardware: Record<string, Hardware>, dtype: Dtype): Roof[] {
  return Object.values(hardware).filter((hw) => hw.measured).map((hw) => {
    const type = hw.peakFlopsPerS[dtype] === undefined
      ? Object.keys(hw.peakFlopsPerS)[0] as Dtype
      : dtype;
    const roof = hardwareRoof(hw, type);
    return { ...roof, name: `${roof.name} (measured, ${type})` };
  });
}
