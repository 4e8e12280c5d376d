/**
 * A small, well-known seeded generator for every random choice of decoding: PCG32
 * (O'Neill's `pcg32_random_r`, XSH-RR output over a 64-bit LCG). The same seed and stream give
 * the same numbers on every platform, so a sampled generation is reproducible.
 *
 * @example
 * ```ts
 * import { Pcg32 } from "./rng.ts";
 * const rng = new Pcg32(42, 54);
 * rng.nextUint32(); // 0xa15c02b7, the reference demo's first output
 * rng.uniform(); // a float in [0, 1)
 * ```
 * @module
 */

const MULTIPLIER_HI = 0x5851f42d;
const MULTIPLIER_LO = 0x4c957f2d;
const MASK64 = (1n << 64n) - 1n;

/**
 * PCG32: 64-bit state, 32-bit output, with a selectable stream. The 64-bit state is kept as two
 * 32-bit halves (BigInt arithmetic is ~20× slower, and sampling draws one number per token).
 * @example
 * ```ts
 * const a = new Pcg32(7), b = new Pcg32(7);
 * a.nextUint32() === b.nextUint32(); // true
 * ```
 */
export class Pcg32 {
  #hi = 0;
  #lo = 0;
  readonly #incHi: number;
  readonly #incLo: number;

  /**
   * Seeds the generator as `pcg32_srandom_r(seed, stream)` does.
   * @param seed a non-negative safe integer
   * @param stream a non-negative safe integer selecting one of 2^63 independent sequences
   */
  constructor(seed: number, stream = 0) {
    for (const [name, v] of [["seed", seed], ["stream", stream]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new RangeError(`${name} must be a non-negative safe integer, got ${v}`);
      }
    }
    const inc = ((BigInt(stream) << 1n) | 1n) & MASK64;
    this.#incHi = Number(inc >> 32n);
    this.#incLo = Number(inc & 0xffffffffn);
    this.nextUint32();
    const state = ((BigInt(this.#hi) << 32n | BigInt(this.#lo)) + BigInt(seed)) & MASK64;
    this.#hi = Number(state >> 32n);
    this.#lo = Number(state & 0xffffffffn);
    this.nextUint32();
  }

  /**
   * The next 32-bit unsigned integer.
   * @example
   * ```ts
   * new Pcg32(1).nextUint32() >= 0; // true
   * ```
   */
  nextUint32(): number {
    const oh = this.#hi, ol = this.#lo;
    // state = state * MULTIPLIER + inc (mod 2^64), with the low 32×32 product split in 16 bits.
    const a0 = ol & 0xffff, a1 = ol >>> 16;
    const b0 = MULTIPLIER_LO & 0xffff, b1 = MULTIPLIER_LO >>> 16;
    const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    const productLo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
    const productHi = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
    const hi = (Math.imul(oh, MULTIPLIER_LO) + Math.imul(ol, MULTIPLIER_HI) + productHi) >>> 0;
    const lo = productLo + this.#incLo;
    this.#lo = lo >>> 0;
    this.#hi = (hi + this.#incHi + (lo > 0xffffffff ? 1 : 0)) >>> 0;
    // Output: XSH-RR of the old state.
    const xh = oh ^ (oh >>> 18);
    const xl = ol ^ ((ol >>> 18) | (oh << 14));
    const xorshifted = ((xl >>> 27) | (xh << 5)) >>> 0;
    const rot = oh >>> 27;
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  }

  /**
   * A uniform float in [0, 1) with 53 random bits (two draws, as MT19937's `genrand_res53`).
   * @example
   * ```ts
   * const u = new Pcg32(3).uniform(); // 0 <= u < 1
   * ```
   */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * An Exp(1) variate, `-log(1 - U)`, always finite and non-negative.
   * @example
   * ```ts
   * const e = new Pcg32(3).exponential(); // e >= 0
   * ```
   */
  exponential(): number {
    return -Math.log1p(-this.uniform());
  }
}
