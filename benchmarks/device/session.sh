#!/usr/bin/env bash
# One step of the GPU measurement session (docs/benchmarks.md). Run from the repository root on the device
# once stage-vllm's parts (staged with the extra wheel fastsafetensors==0.5.0) are in /tmp/stage. Each step
# writes its reports and logs under $OUT. Every liftinfer/raw pair inside a step runs on the same machine.
#   setup   unpack and install the staged wheels, convert SmolLM2 through liftinfer's model path, build the
#           random 7.4B model, then SmolLM2 "cold" (no caches; fills the compile root)
#   smol    SmolLM2 (5 batches each): primed, raw vLLM (same settings, caches warm), HTTP, primed again
#   big-a   random 7.4B: cold (fills the root), primed (8 batches)
#   big-b   random 7.4B: raw and HTTP (8 batches); then weight loading from a cold page cache: the default
#           loader, fast-load (fastsafetensors), vLLM's prefetch strategy
set -uo pipefail
step=$1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 LIFTINFER_CACHE_DIR=/tmp/lcache PATH=/tmp/pyspy/bin:$PATH
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
common=(--backend vllm --option gpu_memory_utilization=0.6 --set max_model_len=4096 --scratch-home)
bench() {  # bench NAME MODEL COMPILE_ROOT ARGS...
  local name=$1 model=$2 root=$3; shift 3
  python3 -m liftinfer bench --model "$model" "${common[@]}" --compile-root "$root" \
    --out "$OUT/$step-$name.json" "$@" 2>&1 | tee -a "$OUT/log-$step.txt" | grep -E "Error|error|Traceback|│|┃|wrote" || true
}
profile() {  # --profile for the HTTP scenarios when py-spy could sample on this machine (setup4 checks)
  [ -f /tmp/pyspy-ok ] && echo "--profile $OUT/prof/$step"
}
install() {  # the staged wheels into /tmp/site, then SmolLM2's safetensors and the random 7.4B model
  cat /tmp/stage/part* | tar xf - -C /tmp && rm -f /tmp/stage/part* && bash /tmp/stage/install.sh
  bash benchmarks/device/prepare.sh 8b 2>&1 | tail -4
}
evict() {  # drop the page cache (root on a VM), else evict the model's files with posix_fadvise
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then echo "page cache: dropped (drop_caches)"; else
    python3 - "$1" <<'PY'
import os, sys, pathlib
files = [p for p in pathlib.Path(sys.argv[1]).rglob("*") if p.is_file()]
for p in files:
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
print(f"page cache: evicted {len(files)} files with posix_fadvise")
PY
  fi
}
case $step in
  setup)
    install
    bench smollm2-cold smollm2 /tmp/jit-smollm2 --scenario cold ;;
  smol)
    bench smollm2 smollm2 /tmp/jit-smollm2 --rounds 5 --scenario primed --scenario raw --scenario http \
      --scenario primed:startup
    du -sh /tmp/jit-smollm2/* ;;
  big-a) bench big-a /tmp/rand-8b /tmp/jit-big --rounds 8 --scenario cold:startup --scenario primed ;;
  big-b)
    bench big-b /tmp/rand-8b /tmp/jit-big --rounds 8 --scenario raw --scenario http
    for variant in default fast-load prefetch; do
      evict /tmp/rand-8b | tee -a "$OUT/log-$step.txt"
      extra=()
      [ $variant = fast-load ] && extra=(--toggle fast-load)
      [ $variant = prefetch ] && extra=(--option safetensors_load_strategy=prefetch --option safetensors_prefetch_num_threads=16)
      bench "load-$variant" /tmp/rand-8b /tmp/jit-big --scenario eager:startup "${extra[@]}"
    done ;;
  # The second session's re-measure (distinct prompts per request and round, one HTTP client per user,
  # cached grammars found on the loop): one compile root for both models, so the second fills less.
  setup2)
    install
    bench big-cold /tmp/rand-8b /tmp/jit --scenario cold:startup ;;
  big2) bench big /tmp/rand-8b /tmp/jit --rounds 5 --scenario primed --scenario raw --scenario http ;;
  smol2)
    bench smollm2 smollm2 /tmp/jit --rounds 5 --scenario primed:startup --scenario primed --scenario raw \
      --scenario http --scenario raw-default ;;
  # The third session's re-measure: the HTTP server shares the engine's event loop (http) or not
  # (http-two-loops); 10 rounds; the HTTP scenarios run under py-spy where it can attach (samples in $OUT).
  setup4)
    install
    python3 -m pip install -q --no-index --no-deps --target /tmp/pyspy .stage/tools/py_spy-*.whl
    if /tmp/pyspy/bin/py-spy record --rate 50 --format raw --output /tmp/pyspy-check.txt -- \
        python3 -c "import time; time.sleep(1)" >/dev/null 2>&1; then
      echo "py-spy works: HTTP scenarios profiled"; touch /tmp/pyspy-ok
    else echo "py-spy cannot sample here: no profiles"; fi
    bench big-cold /tmp/rand-8b /tmp/jit --rounds 10 --scenario cold ;;
  big4) bench big /tmp/rand-8b /tmp/jit --rounds 10 --scenario raw --scenario http --scenario http-two-loops \
      $(profile) ;;
  smol4)
    bench smollm2 smollm2 /tmp/jit --rounds 10 --scenario primed --scenario raw --scenario http \
      --scenario http-two-loops --scenario raw-default $(profile) ;;
  # Run 5: liftinfer on vLLM's server batch limits (raw LLM matched to them), gc frozen after load, raw
  # AsyncLLM beside both; then raw LLM on AsyncLLM's generic limits (128 sequences, 2048 tokens per step).
  setup5)
    install
    python3 -m pip install -q --no-index --no-deps --target /tmp/pyspy .stage/tools/py_spy-*.whl
    /tmp/pyspy/bin/py-spy record --rate 50 --format raw --output /tmp/pyspy-check.txt -- \
      python3 -c "import time; time.sleep(1)" >/dev/null 2>&1 && touch /tmp/pyspy-ok
    bench smollm2-a smollm2 /tmp/jit --rounds 10 --scenario primed --scenario raw --scenario raw-async ;;
  smol5)
    bench smollm2-b smollm2 /tmp/jit --rounds 10 --scenario http --scenario http-two-loops --scenario raw-default \
      $(profile)
    bench smollm2-generic smollm2 /tmp/jit --rounds 10 --option max_num_seqs=128 \
      --option max_num_batched_tokens=2048 --scenario raw ;;
  big5) bench big /tmp/rand-8b /tmp/jit --rounds 10 --scenario primed --scenario raw --scenario http ;;
  # Run 7: the random 7.4B again, now counting the tokens of outputs liftinfer refused as invalid (raw
  # vLLM's counts always included them): first start fills the root, then raw, HTTP, AsyncLLM, primed again.
  setup7)
    install
    bench big-a /tmp/rand-8b /tmp/jit --rounds 10 --scenario primed ;;
  big7) bench big-b /tmp/rand-8b /tmp/jit --rounds 10 --scenario raw --scenario http --scenario raw-async \
      --scenario primed ;;
esac
gzip -f "$OUT"/prof/*/*.txt 2>/dev/null || true
