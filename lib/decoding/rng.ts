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

const MULTIPLIER = 6364136223846793005n;
const MASK64 = (1n << 64n) - 1n;

/**
 * PCG32: 64-bit state, 32-bit output, with a selectable stream.
 * @example
 * ```ts
 * const a = new Pcg32(7), b = new Pcg32(7);
 * a.nextUint32() === b.nextUint32(); // true
 * ```
 */
export class Pcg32 {
  #state = 0n;
  readonly #inc: bigint;

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
    this.#inc = ((BigInt(stream) << 1n) | 1n) & MASK64;
    this.nextUint32();
    this.#state = (this.#state + BigInt(seed)) & MASK64;
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
    const old = this.#state;
    this.#state = (old * MULTIPLIER + this.#inc) & MASK64;
    const xorshifted = Number((((old >> 18n) ^ old) >> 27n) & 0xffffffffn);
    const rot = Number(old >> 59n);
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
