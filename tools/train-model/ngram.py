"""Unigram and bigram baselines over the same token ids the transformer sees.

Unigram: add-one (Laplace) smoothing. Bigram: interpolated Kneser-Ney with absolute discount
D = 0.75, its continuation distribution add-one smoothed so that no token gets probability 0.
"""

import numpy as np


def unigram_nll(train, valid, vocab_size):
    """Mean negative log-likelihood (nats) of valid[1:] under the add-one unigram model."""
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64)
    p = (counts + 1.0) / (counts.sum() + vocab_size)
    return float(-np.log(p[valid[1:]]).mean())


def bigram_nll(train, valid, vocab_size, discount=0.75):
    """Mean NLL (nats) of valid[t] given valid[t-1], t >= 1, under interpolated Kneser-Ney."""
    v = vocab_size
    train = np.asarray(train, dtype=np.int64)
    keys, pair_counts = np.unique(train[:-1] * v + train[1:], return_counts=True)
    history = np.bincount(keys // v, weights=pair_counts, minlength=v)
    followers = np.bincount(keys // v, minlength=v)  # N1+(v .)
    continuation = np.bincount(keys % v, minlength=v)  # N1+(. w)
    p_cont = (continuation + 1.0) / (continuation.sum() + v)

    prev, nxt = np.asarray(valid[:-1]), np.asarray(valid[1:])
    query = prev * v + nxt
    at = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
    c = np.where(keys[at] == query, pair_counts[at], 0).astype(np.float64)
    h = history[prev]
    seen = h > 0
    safe_h = np.where(seen, h, 1.0)
    p = np.where(
        seen,
        np.maximum(c - discount, 0.0) / safe_h + discount * followers[prev] / safe_h * p_cont[nxt],
        p_cont[nxt],
    )
    return float(-np.log(p).mean())
