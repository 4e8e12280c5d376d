/**
 * Exact non-negative rationals over `bigint`, reduced by their greatest common divisor, so an
 * arithmetic intensity such as 4096/3 is shown exactly and as a decimal.
 *
 * @example
 * ```ts
 * import { fraction, fractionToNumber, formatFraction } from "./fraction.ts";
 * const ai = fraction(137438953472n, 100663296n);
 * formatFraction(ai); // "4096/3"
 * fractionToNumber(ai); // 1365.333…
 * ```
 * @module
 */

/** A reduced fraction `numerator / denominator` with `denominator > 0`. */
export interface Fraction {
  /** Numerator, sharing no factor with the denominator. */
  readonly numerator: bigint;
  /** Denominator, positive. */
  readonly denominator: bigint;
}

/**
 * Greatest common divisor of two non-negative integers (Euclid).
 * @example
 * ```ts
 * gcd(12n, 18n); // 6n
 * ```
 */
export function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/**
 * The reduced fraction `numerator / denominator`.
 * @throws {RangeError} when the denominator is not positive or the numerator is negative.
 * @example
 * ```ts
 * fraction(6n, 4n); // { numerator: 3n, denominator: 2n }
 * ```
 */
export function fraction(numerator: bigint, denominator: bigint): Fraction {
  if (denominator <= 0n) {
    throw new RangeError(`fraction denominator must be positive, got ${denominator}`);
  }
  if (numerator < 0n) {
    throw new RangeError(`fraction numerator must be non-negative, got ${numerator}`);
  }
  const g = gcd(numerator, denominator) || 1n;
  return { numerator: numerator / g, denominator: denominator / g };
}

/**
 * The fraction as the nearest double.
 * @example
 * ```ts
 * fractionToNumber(fraction(1n, 4n)); // 0.25
 * ```
 */
export function fractionToNumber(f: Fraction): number {
  const whole = f.numerator / f.denominator;
  const rest = f.numerator % f.denominator;
  // Whole part and remainder separately keep full precision when both are beyond 2^53.
  return Number(whole) + Number(rest) / Number(f.denominator);
}

/**
 * The fraction as text: `"4096/3"`, or just `"2048"` when it is an integer.
 * @example
 * ```ts
 * formatFraction(fraction(8n, 4n)); // "2"
 * ```
 */
export function formatFraction(f: Fraction): string {
  return f.denominator === 1n ? `${f.numerator}` : `${f.numerator}/${f.denominator}`;
}

/**
 * The fraction in LaTeX: `\frac{4096}{3}`, or just `2048` when it is an integer.
 * @example
 * ```ts
 * fractionLatex(fraction(4096n, 3n)); // "\\frac{4096}{3}"
 * ```
 */
export function fractionLatex(f: Fraction): string {
  return f.denominator === 1n ? `${f.numerator}` : `\\frac{${f.numerator}}{${f.denominator}}`;
}
