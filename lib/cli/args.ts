/**
 * The one argument parser of every CLI (`intensity`, `beam`, `question3`, `report`, `bench`):
 * a schema of flags, each with a typed coercer, parsed with `node:util`'s `parseArgs`
 * tokenizer; the usage text is derived from the same schema. Every mistake throws one
 * {@linkcode UsageError} whose one-line message names the flag, the value and what is allowed,
 * and {@linkcode runCli} turns it into exit status 2.
 *
 * Coercers accept plain decimal text only: `1e3`, `0x300`, `NaN`, `Infinity`, an empty value or
 * a value that starts with `--` (a forgotten value followed by the next flag) are refused.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { flag, integer, parseFlags, UsageError } from "./args.ts";
 * const cli = { name: "demo", summary: "A demo.", flags: {
 *   width: flag({ value: integer({ min: 1 }), default: 2, help: "beams", valueName: "K" }),
 * } };
 * assertEquals(parseFlags(cli, ["--width", "3"]).values.width, 3);
 * assertEquals(parseFlags(cli, []).values.width, 2);
 * assertThrows(() => parseFlags(cli, ["--width", "1e3"]), UsageError, '--width must be an integer >= 1, got "1e3"');
 * ```
 * @module
 */
import { parseArgs } from "node:util";

/**
 * A mistake on the command line; the message is one line naming the flag, the value and what
 * is allowed. A `RangeError`, so callers that catch range errors keep working.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * assert(new UsageError("--x must be 1") instanceof RangeError);
 * ```
 */
export class UsageError extends RangeError {
  /** A usage error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Turns the text of one value into a typed value. */
export interface Coercer<T> {
  /** What is allowed, worded to follow "must be" (`an integer >= 0`). */
  readonly allowed: string;
  /** The value, or `undefined` when `text` is not allowed. */
  parse(text: string): T | undefined;
  /** Why `text` is refused, after the flag (default `must be <allowed>, got "<text>"`). */
  refusal?(text: string): string;
}

/** One flag of a {@linkcode CliSpec}. */
export interface FlagSpec<T> {
  /** Coercer of the value; a flag without one is a switch (no value, `true` when given). */
  readonly value?: Coercer<T>;
  /** The value when the flag is absent. */
  readonly default?: T;
  /** One-line help. */
  readonly help: string;
  /** Name of the value in the usage text (default `VALUE`). */
  readonly valueName?: string;
  /** Other names of the flag (`model` for `hf_model_name`). */
  readonly aliases?: readonly string[];
  /** A one-letter short form (`h` for `-h`). */
  readonly short?: string;
  /** How the default reads in the usage text, when not its plain value. */
  readonly defaultText?: string;
}

/** A command: its name, summary, flags and positional arguments. */
export interface CliSpec {
  /** The command (`question3`): prefixes every error. */
  readonly name: string;
  /** What it does, for the usage text. */
  readonly summary: string;
  /** The flags by name (without `--`). */
  // deno-lint-ignore no-explicit-any
  readonly flags: Readonly<Record<string, FlagSpec<any>>>;
  /** Positional arguments, named for the usage text; absent: none allowed. */
  readonly positionals?: string;
  /** Accept `--a-b` for a flag named `a_b` (and the reverse), as Python's argparse users type. */
  readonly dashesAreUnderscores?: boolean;
}

/** The parsed values: each flag's type, `undefined` only where it has no default. */
export type FlagValues<F extends CliSpec["flags"]> = {
  -readonly [K in keyof F]: F[K] extends FlagSpec<infer T>
    ? (F[K] extends { default: unknown } ? T : T | undefined)
    : never;
};

/** What {@linkcode parseFlags} returns. */
export interface Parsed<F extends CliSpec["flags"]> {
  /** Flag values by flag name. */
  values: FlagValues<F>;
  /** Positional arguments, in order. */
  positionals: string[];
}

/**
 * A flag, typed by its coercer and default (a helper for inference only).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(flag({ help: "print JSON" }).help, "print JSON");
 * ```
 */
export function flag<T, S extends FlagSpec<T>>(spec: S & FlagSpec<T>): S {
  return spec;
}

/**
 * A switch: no value, `false` unless given.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(switchFlag("print JSON").default, false);
 * ```
 */
export function switchFlag(help: string, short?: string): FlagSpec<boolean> & { default: false } {
  return { help, default: false, ...(short ? { short } : {}) };
}

const DECIMAL_INTEGER = /^[+-]?\d+$/;
const DECIMAL_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * A decimal integer within bounds (both inclusive).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(integer({ min: 0 }).parse("42"), 42);
 * assertEquals(["1e3", "0x300", "NaN", "Infinity", "", "1.5", "-1"].map((t) => integer({ min: 0 }).parse(t)), Array(7).fill(undefined));
 * assertEquals(integer({ min: 0 }).allowed, "an integer >= 0");
 * ```
 */
export function integer(bounds: { min?: number; max?: number } = {}): Coercer<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
  const allowed = bounds.min !== undefined && bounds.max !== undefined
    ? `an integer from ${min} to ${max}`
    : bounds.min !== undefined
    ? `an integer >= ${min}`
    : bounds.max !== undefined
    ? `an integer <= ${max}`
    : "an integer";
  return {
    allowed,
    parse(text) {
      const v = DECIMAL_INTEGER.test(text) ? Number(text) : NaN;
      return Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined;
    },
  };
}

/**
 * A positive decimal integer (≥ 1), worded as such.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([positiveInteger.parse("3"), positiveInteger.parse("0")], [3, undefined]);
 * assertEquals(positiveInteger.allowed, "a positive integer");
 * ```
 */
export const positiveInteger: Coercer<number> = {
  ...integer({ min: 1 }),
  allowed: "a positive integer",
};

/**
 * A finite decimal number in a range; `minExclusive` makes the lower bound open.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const p = decimal({ min: 0, minExclusive: true, max: 1 });
 * assertEquals([p.parse("0.9"), p.parse("1"), p.parse("0"), p.parse("1e-1"), p.parse("NaN")], [0.9, 1, undefined, undefined, undefined]);
 * assertEquals(p.allowed, "a number in (0, 1]");
 * ```
 */
export function decimal(
  bounds: { min?: number; max?: number; minExclusive?: boolean } = {},
): Coercer<number> {
  const { min = -Infinity, max = Infinity, minExclusive = false } = bounds;
  const allowed = bounds.max !== undefined
    ? `a number in ${minExclusive ? "(" : "["}${min}, ${max}]`
    : bounds.min !== undefined
    ? `a number ${minExclusive ? ">" : ">="} ${min}`
    : "a number";
  return {
    allowed,
    parse(text) {
      const v = DECIMAL_NUMBER.test(text) ? Number(text) : NaN;
      const above = minExclusive ? v > min : v >= min;
      return Number.isFinite(v) && above && v <= max ? v : undefined;
    },
  };
}

/**
 * One of a fixed set of words.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const phase = oneOf(["prefill", "decode"] as const);
 * assertEquals([phase.parse("decode"), phase.parse("train")], ["decode", undefined]);
 * assertEquals(phase.allowed, "one of prefill, decode");
 * ```
 */
export function oneOf<T extends string>(values: readonly T[]): Coercer<T> {
  return {
    allowed: `one of ${values.join(", ")}`,
    parse: (text) => (values as readonly string[]).includes(text) ? text as T : undefined,
  };
}

/**
 * Non-empty text (a path, a prompt, a model name).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([text("a folder").parse("out"), text("a folder").parse("")], ["out", undefined]);
 * ```
 */
export function text(allowed = "non-empty text"): Coercer<string> {
  return { allowed, parse: (t) => t === "" ? undefined : t };
}

/**
 * A comma-separated list of at least one item, each parsed by `item`; the error names the
 * first bad item.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const ids = list(oneOf(["v100", "h100"]));
 * assertEquals(ids.parse("v100, h100"), ["v100", "h100"]);
 * assertEquals(ids.parse("v100,tpu"), undefined);
 * ```
 */
export function list<T>(item: Coercer<T>): Coercer<T[]> {
  const items = (t: string) => t.split(",").map((s) => s.trim());
  return {
    allowed: `a comma-separated list, each ${item.allowed}`,
    parse(t) {
      const parsed = items(t).map((s) => item.parse(s));
      return parsed.every((v) => v !== undefined) ? parsed as T[] : undefined;
    },
    refusal: (t) => refusal(item, items(t).find((s) => item.parse(s) === undefined) ?? t),
  };
}

function refusal<T>(coercer: Coercer<T>, text: string): string {
  return coercer.refusal?.(text) ?? `must be ${coercer.allowed}, got "${text}"`;
}

/**
 * Parses `args` against `spec`: `--flag value`, `--flag=value`, switches, aliases, and
 * positionals where the spec allows them. Throws {@linkcode UsageError} on an unknown flag, a
 * missing value, a value that looks like a flag, a value its coercer refuses, a value given
 * to a switch, a flag given twice, or a positional where none is allowed.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * const cli = { name: "q3", summary: "", flags: {
 *   prompt_seq: flag({ value: text(), default: "What is Apple?", help: "prompt" }),
 *   json: switchFlag("JSON"),
 * } };
 * assertEquals(parseFlags(cli, ["--prompt_seq=Hi", "--json"]).values, { prompt_seq: "Hi", json: true });
 * assertThrows(() => parseFlags(cli, ["--prompt_seq", "--json"]), UsageError, '--prompt_seq needs a value, got the flag "--json"');
 * assertThrows(() => parseFlags(cli, ["--temp"]), UsageError, 'unknown flag "--temp"; allowed: --prompt_seq, --json');
 * ```
 */
export function parseFlags<S extends CliSpec>(
  spec: S,
  args: readonly string[],
): Parsed<S["flags"]> {
  const byName = new Map<string, string>();
  const normal = (name: string) => spec.dashesAreUnderscores ? name.replaceAll("-", "_") : name;
  for (const [name, f] of Object.entries(spec.flags)) {
    for (const n of [name, ...(f.aliases ?? [])]) byName.set(normal(n), name);
  }
  const shorts = Object.fromEntries(
    Object.entries(spec.flags).filter(([, f]) => f.short).map(([n, f]) => [f.short!, n]),
  );
  const { tokens } = parseArgs({
    args: [...args],
    strict: false,
    allowPositionals: true,
    tokens: true,
    // Every flag with a value is a string option, so the tokenizer hands us its raw text.
    options: Object.fromEntries(
      Object.entries(spec.flags).flatMap(([name, f]) =>
        [name, ...(f.aliases ?? [])].map((n) => [n, { type: f.value ? "string" : "boolean" }])
      ),
    ) as Record<string, { type: "string" | "boolean" }>,
  });
  const allowedFlags = () => Object.keys(spec.flags).map((n) => `--${n}`).join(", ");
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      if (spec.positionals === undefined) {
        throw new UsageError(`unexpected argument "${token.value}"; flags start with --`);
      }
      positionals.push(token.value);
      continue;
    }
    const name = token.rawName.startsWith("--")
      ? byName.get(normal(token.name))
      : shorts[token.name];
    if (name === undefined) {
      throw new UsageError(`unknown flag "${token.rawName}"; allowed: ${allowedFlags()}`);
    }
    const f = spec.flags[name];
    const shown = `--${name}`;
    if (given.has(name)) throw new UsageError(`${shown} is given twice`);
    given.add(name);
    if (!f.value) {
      if (token.value !== undefined) {
        throw new UsageError(`${shown} takes no value, got "${token.value}"`);
      }
      values[name] = true;
      continue;
    }
    const value = token.value;
    // A string option followed by the next flag: the tokenizer took the flag as the value.
    if (value === undefined || (!token.inlineValue && value.startsWith("--"))) {
      throw new UsageError(
        value === undefined
          ? `${shown} needs a value (${f.value.allowed})`
          : `${shown} needs a value, got the flag "${value}"`,
      );
    }
    const parsed = value.startsWith("--") ? undefined : f.value.parse(value);
    if (parsed === undefined) throw new UsageError(`${shown} ${refusal(f.value, value)}`);
    values[name] = parsed;
  }
  for (const [name, f] of Object.entries(spec.flags)) {
    if (!(name in values) && "default" in f) values[name] = f.default;
  }
  return { values: values as FlagValues<S["flags"]>, positionals };
}

/**
 * The usage text of `spec`: the command line, the summary, then one line per flag with its
 * value, help, what is allowed and its default.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * const u = usage({ name: "beam", summary: "Beam search.", flags: {
 *   width: flag({ value: positiveInteger, default: 2, help: "number of beams", valueName: "K" }),
 * } });
 * assertStringIncludes(u, "Usage: deno task beam [flags]");
 * assertStringIncludes(u, "--width K");
 * assertStringIncludes(u, "number of beams, a positive integer (default 2)");
 * ```
 */
export function usage(spec: CliSpec): string {
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const names = [
      ...(f.short ? [`-${f.short}`] : []),
      `--${name}`,
      ...(f.aliases ?? []).map((a) => `--${a}`),
    ].join(", ");
    const left = f.value ? `${names} ${f.valueName ?? "VALUE"}` : names;
    const shownDefault = f.defaultText ??
      (f.value && f.default !== undefined ? JSON.stringify(f.default) : undefined);
    const right = [
      f.help,
      ...(f.value && !f.help.includes(f.value.allowed) ? [`, ${f.value.allowed}`] : []),
      ...(shownDefault !== undefined ? [` (default ${shownDefault})`] : []),
    ].join("");
    return [left, right];
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const wrap = (text: string, columns: number, indent: string) => {
    const lines: string[] = [];
    let line = "";
    for (const word of text.split(" ")) {
      if (line && line.length + word.length + 1 > columns) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
    return lines.join(`\n${indent}`);
  };
  const positional = spec.positionals ? ` ${spec.positionals}` : "";
  return [
    `Usage: deno task ${spec.name}${positional} [flags]`,
    "",
    wrap(spec.summary, 96, ""),
    "",
    "Flags:",
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}${wrap(r, 96 - width, " ".repeat(width + 2))}`),
  ].join("\n");
}

/**
 * Runs a CLI's `main` and returns its exit status: a {@linkcode UsageError} prints
 * `<name>: <message> (see --help)` on one line of stderr and gives 2; other errors propagate.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(await runCli("demo", () => { throw new UsageError("--x must be 1, got \"2\""); }), 2);
 * assertEquals(await runCli("demo", () => 0), 0);
 * ```
 */
export async function runCli(
  name: string,
  main: () => number | void | Promise<number | void>,
): Promise<number> {
  try {
    return (await main()) ?? 0;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${name}: ${e.message} (see --help)`);
    return 2;
  }
}
