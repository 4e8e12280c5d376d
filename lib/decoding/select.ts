/**
 * Choosing candidates from a row of scores: the k best ({@linkcode topIndices}, as
 * `torch.topk`) and draws without replacement ({@linkcode multinomial}, as `torch.multinomial`
 * with `replacement=False`). Both skip `-Infinity` scores / zero weights, so an impossible
 * candidate is never chosen.
 *
 * @example
 * ```ts
 * import { multinomial, topIndices } from "./select.ts";
 * import { Pcg32 } from "./rng.ts";
 * topIndices([0.1, 0.7, 0.2], 2); // [1, 2]
 * multinomial([0.1, 0.7, 0.2], 2, new Pcg32(0)); // two distinct indices
 * ```
 * @module
 */
import type { Pcg32 } from "./rng.ts";

/**
 * Indices of the `k` largest finite values, largest first; ties go to the lower index.
 * Returns fewer when fewer values are finite. O(n log k).
 * @example
 * ```ts
 * topIndices([5, -Infinity, 5, 1], 3); // [0, 2, 3]
 * ```
 */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  // Min-heap on (value, -index): the root is the worst kept entry.
  const heap: number[] = [];
  const worse = (a: number, b: number) =>
    values[a] < values[b] || (values[a] === values[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l], heap[m])) m = l;
      if (r < heap.length && worse(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = 0; i < values.length && k > 0; i++) {
    if (!(values[i] > -Infinity)) continue;
    if (heap.length < k) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0;) {
        const p = (c - 1) >> 1;
        if (!worse(heap[c], heap[p])) break;
        [heap[c], heap[p]] = [heap[p], heap[c]];
        c = p;
      }
    } else if (values[i] > values[heap[0]]) {
      // worse(heap[0], i) without the call: i comes after every kept index, so a tie keeps
      // the kept one.
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => values[b] - values[a] || a - b);
}

/**
 * Draws `n` distinct indices with probability proportional to `weights`, one after another
 * without replacement (`torch.multinomial(weights, n, replacement=False)`), by the exponential
 * race torch itself uses: the `n` largest `w_i / E_i` with `E_i ~ Exp(1)`, in draw order.
 * Zero weights are never drawn, so fewer than `n` come back when fewer weights are positive.
 * @example
 * ```ts
 * import { Pcg32 } from "./rng.ts";
 * multinomial([0, 1, 3], 1, new Pcg32(5)); // [2] three times in four
 * ```
 */
export function multinomial(weights: ArrayLike<number>, n: number, rng: Pcg32): number[] {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`samples must be an integer >= 1, got ${n}`);
  }
  const keys = new Float64Array(weights.length).fill(-Infinity);
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!(w >= 0) || w === Infinity) {
      throw new RangeError(`weights must be finite and >= 0, got ${w} at index ${i}`);
    }
    if (w > 0) keys[i] = Math.log(w) - Math.log(rng.exponential());
  }
  return topIndices(keys, n);
}
