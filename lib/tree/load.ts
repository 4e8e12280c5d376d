/**
 * The homework's probability tree as a {@linkcode LanguageModel}: each node gives
 * P(token | path above it); the root (e.g. "[s]") is the empty prompt, token ids are vocabulary
 * indices, and the leaves' depth is the length limit (there is no EOS token).
 *
 * File format (JSON, as `data/q2-tree.json`):
 * `{ "about"?: string, "vocab": ["a", "b", "c"], "root"?: "[s]", "tree": { "a": { "p": 0.2,
 * "next": { … } }, … } }`.
 *
 * Loading validates, and names the first bad node by its path (`tree.b.c`):
 * - the text is JSON and the fields are those above (unknown fields are rejected);
 * - `vocab` is a non-empty list of distinct non-empty strings;
 * - every `p` is a number in [0, 1];
 * - every internal node (and the root) has exactly one child per vocabulary token, no others;
 * - the children of a node sum to 1 within {@linkcode SUM_TOLERANCE} (1e-6);
 * - all leaves are at the same depth.
 *
 * @example
 * ```ts
 * import { loadTree } from "./load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * tree.depth; // 3
 * const state = await tree.start([], 1);
 * Array.from(state.logProbs[0], Math.exp); // ≈ [0.2, 0.5, 0.3]
 * ```
 * @module
 */
import type { DecodeState, LanguageModel } from "../decoding/language_model.ts";

/**
 * Path of the homework's tree, shipped with the workspace (`data/q2-tree.json`).
 * @example
 * ```ts
 * const tree = loadTree(await Deno.readTextFile(HOMEWORK_TREE));
 * ```
 */
export const HOMEWORK_TREE: string = new URL("../../data/q2-tree.json", import.meta.url).pathname;

/**
 * How far the children of a node may sum from 1.
 * @example
 * ```ts
 * Math.abs(0.2 + 0.5 + 0.3 - 1) <= SUM_TOLERANCE; // true
 * ```
 */
export const SUM_TOLERANCE = 1e-6;

/**
 * A tree file that failed validation; `path` names the first bad node (e.g. `tree.b.c`).
 * @example
 * ```ts
 * try {
 *   loadTree('{"vocab":["x","y"],"tree":{"x":{"p":0.5},"y":{"p":0.4}}}');
 * } catch (e) {
 *   (e as TreeError).path; // "tree"
 * }
 * ```
 */
export class TreeError extends Error {
  /** Path of the offending node or field. */
  readonly path: string;
  /** A validation error at `path`. */
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "TreeError";
    this.path = path;
  }
}

/** One node of the tree, for drawings and enumeration. */
export interface TreeNode {
  /** Token ids from the root to this node (empty for the root). */
  tokens: number[];
  /** P(last token | path above); 1 for the root. */
  p: number;
  /** Product of `p` along the path: the probability of the prefix. */
  probability: number;
  /** Whether this node has no children. */
  leaf: boolean;
}

interface Node {
  p: number;
  children: Node[] | null;
}

/**
 * A validated probability tree that decodes like a language model.
 * @example
 * ```ts
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * tree.nodes().filter((n) => n.leaf).length; // 27
 * ```
 */
export class TreeModel implements LanguageModel {
  /** The vocabulary; token id i is `vocab[i]`. */
  readonly vocab: readonly string[];
  /** The root's label, e.g. "[s]". */
  readonly root: string;
  /** Depth of every leaf: the length limit of generation. */
  readonly depth: number;
  /** The file's description, if any. */
  readonly about: string | undefined;
  /** The tree has no EOS: sequences end at the leaves. */
  readonly eosTokenIds: readonly number[] = [];
  readonly #top: Node;

  /** Use {@linkcode loadTree} or {@linkcode parseTree}. */
  constructor(vocab: string[], root: string, depth: number, top: Node, about?: string) {
    this.vocab = vocab;
    this.root = root;
    this.depth = depth;
    this.#top = top;
    this.about = about;
  }

  /** Number of tokens. */
  get vocabSize(): number {
    return this.vocab.length;
  }

  /**
   * The token for an id.
   * @example
   * ```ts
   * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
   * tree.tokenText(2); // "c"
   * ```
   */
  tokenText(id: number): string {
    const text = this.vocab[id];
    if (text === undefined) throw new RangeError(`token id ${id} is not in [0, ${this.vocabSize})`);
    return text;
  }

  /**
   * Token ids of a string of single-character tokens or a list of tokens.
   * @example
   * ```ts
   * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
   * tree.encode("bca"); // [1, 2, 0]
   * ```
   */
  encode(tokens: string | readonly string[]): number[] {
    return [...tokens].map((t) => {
      const id = this.vocab.indexOf(t);
      if (id < 0) throw new RangeError(`unknown token "${t}" (vocab: ${this.vocab.join(", ")})`);
      return id;
    });
  }

  /**
   * Starts decoding at the node reached by `prompt` (empty: the root), with `rows` copies.
   * @example
   * ```ts
   * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
   * const s = await tree.start([1], 2); // two rows at node "b"
   * ```
   */
  start(prompt: readonly number[], rows: number): Promise<DecodeState> {
    if (!Number.isInteger(rows) || rows < 1) {
      throw new RangeError(`rows must be an integer >= 1, got ${rows}`);
    }
    let node = this.#top;
    for (const [i, t] of prompt.entries()) {
      node = this.#child(node, t, prompt.slice(0, i));
    }
    const paths = Array.from({ length: rows }, () => [...prompt]);
    return Promise.resolve(this.#state(Array(rows).fill(node), paths));
  }

  /**
   * The probability of a path from the root: the product of its nodes' `p`, in float64 (the
   * model rows are float32 log-probabilities, so decoding's sums carry ~1e-7 relative error).
   * @example
   * ```ts
   * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
   * tree.probabilityOf(tree.encode("bca")); // 0.12 (0.5 · 0.4 · 0.6)
   * ```
   */
  probabilityOf(tokens: readonly number[]): number {
    let node = this.#top;
    let probability = 1;
    for (const [i, t] of tokens.entries()) {
      node = this.#child(node, t, tokens.slice(0, i));
      probability *= node.p;
    }
    return probability;
  }

  /**
   * Every node, depth-first in vocabulary order, root first.
   * @example
   * ```ts
   * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
   * tree.nodes().length; // 1 + 3 + 9 + 27 = 40
   * ```
   */
  nodes(): TreeNode[] {
    const out: TreeNode[] = [];
    const stack: { node: Node; tokens: number[]; probability: number }[] = [
      { node: this.#top, tokens: [], probability: 1 },
    ];
    for (let s = stack.pop(); s !== undefined; s = stack.pop()) {
      out.push({
        tokens: s.tokens,
        p: s.node.p,
        probability: s.probability,
        leaf: !s.node.children,
      });
      const children = s.node.children ?? [];
      for (let t = children.length - 1; t >= 0; t--) {
        const c = children[t];
        stack.push({ node: c, tokens: [...s.tokens, t], probability: s.probability * c.p });
      }
    }
    return out;
  }

  #child(node: Node, token: number, path: readonly number[]): Node {
    if (node.children === null) {
      throw new RangeError(
        `the tree has depth ${this.depth}: no next-token distribution after "${
          path.map((t) => this.tokenText(t)).join(" ")
        }" (generate at most ${this.depth} tokens)`,
      );
    }
    const child = node.children[token];
    if (child === undefined) {
      throw new RangeError(`token id ${token} is not in [0, ${this.vocabSize})`);
    }
    return child;
  }

  #state(nodes: Node[], paths: number[][]): DecodeState {
    const logProbs = nodes.map((node, r) => {
      if (node.children === null) {
        throw new RangeError(
          `the tree has depth ${this.depth}: no next-token distribution after "${
            paths[r].map((t) => this.tokenText(t)).join(" ")
          }" (generate at most ${this.depth} tokens)`,
        );
      }
      return Float32Array.from(node.children, (c) => Math.log(c.p));
    });
    return {
      logProbs,
      step: (parents, tokens) => {
        if (parents.length !== tokens.length) {
          throw new RangeError(
            `step needs one token per parent, got ${parents.length} parents and ${tokens.length} tokens`,
          );
        }
        const next = parents.map((p, i) => {
          if (!Number.isInteger(p) || p < 0 || p >= nodes.length) {
            throw new RangeError(`parent ${p} is not a row in [0, ${nodes.length})`);
          }
          return this.#child(nodes[p], tokens[i], paths[p]);
        });
        return Promise.resolve(
          this.#state(next, parents.map((p, i) => [...paths[p], tokens[i]])),
        );
      },
      dispose: () => {},
    };
  }
}

/**
 * Reads and validates a tree file (default: the homework's).
 * @example
 * ```ts
 * (await loadTreeFile()).vocab; // ["a", "b", "c"]
 * ```
 */
export async function loadTreeFile(path: string = HOMEWORK_TREE): Promise<TreeModel> {
  return loadTree(await Deno.readTextFile(path));
}

/**
 * Parses and validates a tree file's text (see the module doc for the rules).
 * @example
 * ```ts
 * loadTree('{"vocab":["x","y"],"tree":{"x":{"p":0.5},"y":{"p":0.5}}}').depth; // 1
 * ```
 */
export function loadTree(text: string): TreeModel {
  let json: unknown;
  try {
    // A byte-order mark (as some editors save) is not part of the JSON.
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (e) {
    throw new TreeError("file", `invalid JSON: ${(e as Error).message}`);
  }
  return parseTree(json);
}

/**
 * Validates an already-parsed tree object.
 * @example
 * ```ts
 * parseTree({ vocab: ["x"], tree: { x: { p: 1 } } }).vocab; // ["x"]
 * ```
 */
export function parseTree(json: unknown): TreeModel {
  if (!isObject(json)) throw new TreeError("file", "expected a JSON object with vocab and tree");
  checkFields("file", json, ["about", "vocab", "root", "tree"]);
  const vocab = json.vocab;
  if (!Array.isArray(vocab) || vocab.length === 0) {
    throw new TreeError("vocab", "expected a non-empty list of token strings");
  }
  vocab.forEach((t, i) => {
    if (typeof t !== "string" || t.length === 0) {
      throw new TreeError(`vocab[${i}]`, `expected a non-empty string, got ${JSON.stringify(t)}`);
    }
    if (vocab.indexOf(t) !== i) throw new TreeError(`vocab[${i}]`, `duplicate token "${t}"`);
  });
  const root = json.root ?? "[s]";
  if (typeof root !== "string") {
    throw new TreeError("root", `expected a string, got ${JSON.stringify(root)}`);
  }
  const about = json.about;
  if (about !== undefined && typeof about !== "string") {
    throw new TreeError("about", `expected a string, got ${JSON.stringify(about)}`);
  }
  // Depth-first over an explicit stack, children in vocabulary order: a chain thousands of
  // levels deep loads like a shallow tree, and the first bad node found is the one a
  // recursive walk would find.
  const expand = (path: string, next: unknown, depth: number): Node[] => {
    if (!isObject(next) || Object.keys(next).length === 0) {
      throw new TreeError(
        path,
        `expected an object with one child per token (${vocab.join(", ")})`,
      );
    }
    for (const key of Object.keys(next)) {
      if (!vocab.includes(key)) {
        throw new TreeError(
          `${path}.${key}`,
          `unknown token "${key}" (vocab: ${vocab.join(", ")})`,
        );
      }
    }
    // Own properties only: a token named "toString" is not found on Object.prototype.
    const missing = vocab.filter((t) => !Object.hasOwn(next, t));
    if (missing.length > 0) {
      throw new TreeError(
        path,
        `missing child "${missing[0]}" (every internal node needs one child per token: ${
          vocab.join(", ")
        })`,
      );
    }
    const nodes = vocab.map((t) => node(`${path}.${t}`, next[t]));
    const sum = nodes.reduce((s, n) => s + n.p, 0);
    if (Math.abs(sum - 1) > SUM_TOLERANCE) {
      throw new TreeError(
        path,
        `children sum to ${+sum.toPrecision(12)}, expected 1 ± ${SUM_TOLERANCE.toExponential()}`,
      );
    }
    for (let i = vocab.length - 1; i >= 0; i--) {
      pending.push({
        node: nodes[i],
        path: `${path}.${vocab[i]}`,
        raw: next[vocab[i]] as Record<string, unknown>,
        depth: depth + 1,
      });
    }
    return nodes;
  };
  const node = (path: string, raw: unknown): Node => {
    if (!isObject(raw)) {
      throw new TreeError(path, `expected an object { p, next? }, got ${JSON.stringify(raw)}`);
    }
    checkFields(path, raw, ["p", "next"]);
    const p = raw.p;
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      throw new TreeError(path, `p must be a number in [0, 1], got ${JSON.stringify(p)}`);
    }
    return { p, children: null };
  };
  const pending: { node: Node; path: string; raw: Record<string, unknown>; depth: number }[] = [];
  let leafDepth: { depth: number; path: string } | undefined;
  const top: Node = { p: 1, children: expand("tree", json.tree, 0) };
  for (let task = pending.pop(); task !== undefined; task = pending.pop()) {
    const next = Object.hasOwn(task.raw, "next") ? task.raw.next : undefined;
    if (next !== undefined) {
      task.node.children = expand(task.path, next, task.depth);
      continue;
    }
    if (leafDepth === undefined) leafDepth = { depth: task.depth, path: task.path };
    else if (leafDepth.depth !== task.depth) {
      throw new TreeError(
        task.path,
        `leaf at depth ${task.depth}, but ${leafDepth.path} is a leaf at depth ${leafDepth.depth}; all leaves must be at the same depth`,
      );
    }
  }
  return new TreeModel([...vocab], root, leafDepth!.depth, top, about);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function checkFields(path: string, obj: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new TreeError(path, `unknown field "${key}" (allowed: ${allowed.join(", ")})`);
    }
  }
}
