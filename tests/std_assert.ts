/**
 * A stand-in for `jsr:@std/assert` on machines that cannot reach JSR: the same function
 * names, each a thin call into `node:assert`, so no comparison logic is written here.
 *
 * On a machine that reaches JSR, swap the mapping in `deno.json`:
 * `"@std/assert": "jsr:@std/assert@^1.0.0"`; no test changes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([1, 2], [1, 2]);
 * ```
 * @module
 */
import nodeAssert from "node:assert";
import { isDeepStrictEqual } from "node:util";

// As in `@std/assert`, a custom message is prefixed to node's own report of the values (node
// would replace that report); this also keeps `msg` out of @types/node's message overloads.
function withMessage(msg: string | undefined, check: () => void): void {
  try {
    check();
  } catch (e) {
    if (msg !== undefined && e instanceof nodeAssert.AssertionError) {
      e.message = `${msg}: ${e.message}`;
    }
    throw e;
  }
}

/** The error every assertion throws. */
export const AssertionError = nodeAssert.AssertionError;

/**
 * Asserts that `expr` is truthy.
 * @example
 * ```ts
 * assert(1 + 1 === 2);
 * ```
 */
export function assert(expr: unknown, msg?: string): asserts expr {
  withMessage(msg, () => nodeAssert.ok(expr));
}

/**
 * Asserts that `expr` is falsy.
 * @example
 * ```ts
 * assertFalse(1 + 1 === 3);
 * ```
 */
export function assertFalse(expr: unknown, msg?: string): void {
  withMessage(msg, () => nodeAssert.ok(!expr));
}

/**
 * Asserts deep equality.
 * @example
 * ```ts
 * assertEquals({ a: [1] }, { a: [1] });
 * ```
 */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  withMessage(msg, () => nodeAssert.deepStrictEqual(actual, expected));
}

/**
 * Asserts deep inequality.
 * @example
 * ```ts
 * assertNotEquals([1], [2]);
 * ```
 */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  withMessage(msg, () => nodeAssert.notDeepStrictEqual(actual, expected));
}

/**
 * Asserts `Object.is` equality.
 * @example
 * ```ts
 * assertStrictEquals(NaN, NaN);
 * ```
 */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  withMessage(msg, () => nodeAssert.strictEqual(actual, expected));
}

/**
 * Asserts `|actual - expected| <= tolerance` (default 1e-7, relative to `expected` as in
 * `@std/assert`).
 * @example
 * ```ts
 * assertAlmostEquals(0.1 + 0.2, 0.3);
 * ```
 */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance?: number,
  msg?: string,
): void {
  const tol = tolerance ?? Math.abs(expected) * 1e-7;
  const delta = Math.abs(expected - actual);
  nodeAssert.ok(
    Object.is(actual, expected) || delta <= tol,
    msg ?? `Expected actual: "${actual}" to be close to "${expected}": delta "${delta}" > "${tol}"`,
  );
}

/**
 * Asserts that a value is neither `null` nor `undefined`.
 * @example
 * ```ts
 * assertExists(0);
 * ```
 */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  nodeAssert.ok(actual !== null && actual !== undefined, msg ?? `Expected a value, got ${actual}`);
}

/**
 * Asserts that `actual` matches `expected`.
 * @example
 * ```ts
 * assertMatch("Output-1", /Output-\d/);
 * ```
 */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  withMessage(msg, () => nodeAssert.match(actual, expected));
}

/**
 * Asserts that `actual` does not match `expected`.
 * @example
 * ```ts
 * assertNotMatch("plain", /\\mathbb/);
 * ```
 */
export function assertNotMatch(actual: string, expected: RegExp, msg?: string): void {
  withMessage(msg, () => nodeAssert.doesNotMatch(actual, expected));
}

/**
 * Asserts that `actual` contains `expected`.
 * @example
 * ```ts
 * assertStringIncludes("beam search", "beam");
 * ```
 */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  nodeAssert.ok(
    actual.includes(expected),
    msg ?? `Expected actual: "${actual}" to contain: "${expected}".`,
  );
}

/**
 * Asserts that every value of `expected` is deeply equal to some value of `actual`.
 * @example
 * ```ts
 * assertArrayIncludes([1, 2, 3], [3, 1]);
 * ```
 */
export function assertArrayIncludes<T>(
  actual: ArrayLike<T>,
  expected: ArrayLike<T>,
  msg?: string,
): void {
  const missing = Array.from(expected).filter((e) =>
    !Array.from(actual).some((a) => isDeepStrictEqual(a, e))
  );
  nodeAssert.deepStrictEqual(missing, [], msg ?? "Expected actual to include every expected value");
}

/**
 * Asserts `actual > expected`.
 * @example
 * ```ts
 * assertGreater(2, 1);
 * ```
 */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.ok(actual > expected, msg ?? `Expect ${actual} > ${expected}`);
}

/**
 * Asserts `actual >= expected`.
 * @example
 * ```ts
 * assertGreaterOrEqual(2, 2);
 * ```
 */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.ok(actual >= expected, msg ?? `Expect ${actual} >= ${expected}`);
}

/**
 * Asserts `actual < expected`.
 * @example
 * ```ts
 * assertLess(1, 2);
 * ```
 */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.ok(actual < expected, msg ?? `Expect ${actual} < ${expected}`);
}

/**
 * Asserts `actual <= expected`.
 * @example
 * ```ts
 * assertLessOrEqual(2, 2);
 * ```
 */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.ok(actual <= expected, msg ?? `Expect ${actual} <= ${expected}`);
}

/**
 * Asserts that `actual` is an instance of `expectedType`.
 * @example
 * ```ts
 * assertInstanceOf(new Error("x"), Error);
 * ```
 */
// deno-lint-ignore no-explicit-any
export function assertInstanceOf<T extends abstract new (...args: any) => any>(
  actual: unknown,
  expectedType: T,
  msg?: string,
): asserts actual is InstanceType<T> {
  nodeAssert.ok(
    actual instanceof expectedType,
    msg ?? `Expected object to be an instance of "${expectedType.name}"`,
  );
}

/**
 * Throws an assertion error.
 * @example
 * ```ts
 * try { fail("nope"); } catch { /* expected *\/ }
 * ```
 */
export function fail(msg?: string): never {
  nodeAssert.fail(msg ?? "Failed assertion.");
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

/**
 * Asserts that `fn` throws, optionally of a class and with a message containing `msgIncludes`.
 * Returns the error.
 * @example
 * ```ts
 * assertThrows(() => { throw new RangeError("top_p 2"); }, RangeError, "top_p");
 * ```
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): E {
  let caught: unknown;
  nodeAssert.throws(() => {
    try {
      fn();
    } catch (e) {
      caught = e;
      throw e;
    }
  }, msg);
  checkError(caught, errorClass, msgIncludes);
  return caught as E;
}

/**
 * Asserts that the promise returned by `fn` rejects, optionally of a class and with a message
 * containing `msgIncludes`. Resolves to the error.
 * @example
 * ```ts
 * await assertRejects(() => Promise.reject(new Error("no model")), Error, "model");
 * ```
 */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  errorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E> {
  let caught: unknown;
  await nodeAssert.rejects(async () => {
    try {
      await fn();
    } catch (e) {
      caught = e;
      throw e;
    }
  }, msg);
  checkError(caught, errorClass, msgIncludes);
  return caught as E;
}

function checkError<E extends Error>(
  caught: unknown,
  errorClass?: ErrorClass<E>,
  msgIncludes?: string,
): void {
  if (errorClass) {
    nodeAssert.ok(
      caught instanceof errorClass,
      `Expected error to be instance of "${errorClass.name}", got ${caught}`,
    );
  }
  if (msgIncludes !== undefined) {
    const message = caught instanceof Error ? caught.message : String(caught);
    nodeAssert.ok(
      message.includes(msgIncludes),
      `Expected error message to include "${msgIncludes}", got "${message}"`,
    );
  }
}
