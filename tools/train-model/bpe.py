"""Byte-level BPE (GPT-2's scheme): trainer, encoder, decoder, Hugging Face tokenizer.json.

Text is split by GPT-2's pre-tokenizer regex, each piece is mapped byte by byte onto printable
characters (GPT-2's `bytes_to_unicode`), and merges learned on piece counts are applied by rank.
"""

import heapq
import json
from collections import Counter, defaultdict

import regex

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
END_OF_TEXT = "<|endoftext|>"
_SPLIT = regex.compile(GPT2_PATTERN)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character table, in GPT-2's vocabulary order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_ENCODER = bytes_to_unicode()
BYTE_DECODER = {c: b for b, c in BYTE_ENCODER.items()}


def pieces(text):
    """Pre-tokenized pieces of `text`, each already in byte-level characters."""
    return ["".join(BYTE_ENCODER[b] for b in p.encode("utf-8")) for p in _SPLIT.findall(text)]


def train(texts, vocab_size):
    """Learns `vocab_size - 257` merges (256 bytes + merges + `<|endoftext|>`).

    Ties between equally frequent pairs go to the lexicographically smallest pair, so the
    result depends only on the texts.
    """
    n_merges = vocab_size - 257
    if n_merges < 0:
        raise ValueError(f"vocab_size {vocab_size} must be at least 257")
    counts = Counter()
    for text in texts:
        counts.update(pieces(text))
    words = [list(w) for w in counts]
    freqs = list(counts.values())
    pair_counts = Counter()
    where = defaultdict(set)
    for i, (w, f) in enumerate(zip(words, freqs)):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += f
            where[pair].add(i)
    heap = [(-c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg or -neg <= 0:
            continue
        merges.append(pair)
        a, b = pair
        merged = a + b
        changed = Counter()
        for i in sorted(where.pop(pair, ())):
            w, f = words[i], freqs[i]
            if len(w) < 2:
                continue
            for p in zip(w, w[1:]):
                changed[p] -= f
            out = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(merged)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                changed[p] += f
                where[p].add(i)
        for p, delta in changed.items():
            if delta:
                pair_counts[p] += delta
                heapq.heappush(heap, (-pair_counts[p], p))
        pair_counts.pop(pair, None)
    if len(merges) < n_merges:
        raise ValueError(f"texts allow only {len(merges)} merges, {n_merges} requested")
    return merges


class ByteLevelBPE:
    """Encoder/decoder for a vocabulary built from GPT-2 byte characters and `merges`."""

    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        tokens = list(BYTE_ENCODER.values()) + [a + b for a, b in self.merges] + [END_OF_TEXT]
        self.vocab = {t: i for i, t in enumerate(tokens)}
        if len(self.vocab) != len(tokens):
            raise ValueError("merges produce duplicate tokens")
        self.id_to_token = tokens
        self.eos_id = self.vocab[END_OF_TEXT]
        self._cache = {}

    def _bpe(self, piece):
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        word = list(piece)
        while len(word) > 1:
            ranked = [(self.ranks.get(p, 1 << 30), k) for k, p in enumerate(zip(word, word[1:]))]
            rank, _ = min(ranked)
            if rank == 1 << 30:
                break
            a, b = self.merges[rank]
            out = []
            j = 0
            while j < len(word):
                if j + 1 < len(word) and word[j] == a and word[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(word[j])
                    j += 1
            word = out
        ids = [self.vocab[t] for t in word]
        self._cache[piece] = ids
        return ids

    def encode(self, text):
        """Token ids of `text`; a literal `<|endoftext|>` in it is the special token, as in HF."""
        ids = []
        for k, part in enumerate(text.split(END_OF_TEXT)):
            if k:
                ids.append(self.eos_id)
            ids.extend(i for p in pieces(part) for i in self._bpe(p))
        return ids

    def decode(self, ids):
        data = bytearray()
        for i in ids:
            token = self.id_to_token[i]
            if token == END_OF_TEXT:
                data += token.encode("utf-8")
            else:
                data += bytes(BYTE_DECODER[c] for c in token)
        return data.decode("utf-8", errors="replace")

    def tokenizer_json(self):
        """The Hugging Face `tokenizers` serialisation (as GPT-2's tokenizer.json lays it out)."""
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                      "use_regex": True}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [{
                "id": self.eos_id, "content": END_OF_TEXT, "single_word": False,
                "lstrip": False, "rstrip": False, "normalized": True, "special": True,
            }],
            "normalizer": None,
            "pre_tokenizer": byte_level,
            "post_processor": dict(byte_level),
            "decoder": dict(byte_level),
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": "",
                "end_of_word_suffix": "",
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": self.vocab,
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.tokenizer_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")
