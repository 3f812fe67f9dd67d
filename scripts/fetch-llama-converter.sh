#!/usr/bin/env bash
# Fetches llama.cpp's LoRA → GGUF converter (convert_lora_to_gguf.py with the
# convert_hf_to_gguf.py, conversion/ and gguf-py/ it imports) from the llama-cpp-python
# sdist: the wheel does not carry it. Cached like the engine wheel, so a second install
# takes no time. Prints the directory (settings.finetune.converter_dir defaults to it).
set -euo pipefail
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
TARGET="${OPENMAAS_FINETUNE__CONVERTER_DIR:-$HOME/.cache/openmaas/llama-cpp-src/$VERSION}"
PY="${PYTHON:-python3}"

if [ ! -f "$TARGET/convert_lora_to_gguf.py" ]; then
  echo "fetching llama.cpp's converter from the llama-cpp-python $VERSION sdist into $TARGET" >&2
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$WORK" "llama-cpp-python==$VERSION" >&2
  SRC="llama_cpp_python-$VERSION/vendor/llama.cpp"
  tar -xzf "$WORK"/llama_cpp_python-"$VERSION".tar.gz -C "$WORK" \
    "$SRC/convert_lora_to_gguf.py" "$SRC/convert_hf_to_gguf.py" "$SRC/conversion" "$SRC/gguf-py"
  mkdir -p "$(dirname "$TARGET")"
  rm -rf "$TARGET.tmp" && mv "$WORK/$SRC" "$TARGET.tmp"
  rm -rf "$TARGET" && mv "$TARGET.tmp" "$TARGET"
fi
echo "$TARGET"
