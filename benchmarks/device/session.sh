#!/usr/bin/env bash
# One step of the GPU measurement session (docs/benchmarks.md). Run from the repository root on the device
# once stage-vllm's parts (staged with the extra wheel fastsafetensors==0.5.0) are in /tmp/stage; the first
# step of a machine also carries .stage/tools (the py-spy wheel: pip download py-spy --no-deps -d .stage/tools).
# Each step writes its reports and logs under $OUT. Every liftinfer/raw pair inside a step runs on the same
# machine. The third session's runs:
#   run 4  setup4 big4 smol4     7.4B cold start + raw + HTTP (both loops); SmolLM2 likewise + raw default
#   run 5  setup5 smol5 big5     batch limits matched; raw AsyncLLM; raw LLM on AsyncLLM's generic limits
#   run 6  smol6 big6            interleaved (SmolLM2) and reversed (7.4B) scenario orders
#   run 7  setup7 big7           the 7.4B again, counting the tokens of refused outputs
#   run 8  run8a run8b           the 7.4B, 20 constrained batches per process, raw and library interleaved,
#                                one bench (and JSON file) per scenario, so a step cut off at the time limit
#                                keeps the scenarios it finished; pooled afterwards (liftinfer.bench.run.pooled)
#   load                         weights from a cold page cache: vLLM's loader, fast-load, prefetch
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
each() {  # each SCENARIO...: the 7.4B, one bench per scenario, 20 constrained and 1 free batch each
  local i=0
  for scenario in "$@"; do
    i=$((i + 1))
    bench "$i-$scenario" /tmp/rand-8b /tmp/jit --rounds 20 --free-rounds 1 --scenario "$scenario"
  done
}
profile() {  # --profile for the HTTP scenarios when py-spy could sample on this machine (install checks)
  [ -f /tmp/pyspy-ok ] && echo "--profile $OUT/prof/$step"
}
install() {  # the staged wheels into /tmp/site, SmolLM2's safetensors, the random 7.4B model, py-spy
  cat /tmp/stage/part* | tar xf - -C /tmp && rm -f /tmp/stage/part* && bash /tmp/stage/install.sh
  bash benchmarks/device/prepare.sh 8b 2>&1 | tail -4
  python3 -m pip install -q --no-index --no-deps --target /tmp/pyspy .stage/tools/py_spy-*.whl
  /tmp/pyspy/bin/py-spy record --rate 50 --format raw --output /tmp/pyspy-check.txt -- \
    python3 -c "import time; time.sleep(1)" >/dev/null 2>&1 && touch /tmp/pyspy-ok
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
  setup4) install; bench big-cold /tmp/rand-8b /tmp/jit --rounds 10 --scenario cold ;;
  big4) bench big /tmp/rand-8b /tmp/jit --rounds 10 --scenario raw --scenario http --scenario http-two-loops \
      $(profile) ;;
  smol4) bench smollm2 smollm2 /tmp/jit --rounds 10 --scenario primed --scenario raw --scenario http \
      --scenario http-two-loops --scenario raw-default $(profile) ;;
  setup5) install; bench smollm2-a smollm2 /tmp/jit --rounds 10 --scenario primed --scenario raw --scenario raw-async ;;
  smol5)
    bench smollm2-b smollm2 /tmp/jit --rounds 10 --scenario http --scenario http-two-loops --scenario raw-default \
      $(profile)
    bench smollm2-generic smollm2 /tmp/jit --rounds 10 --option max_num_seqs=128 \
      --option max_num_batched_tokens=2048 --scenario raw ;;
  big5) bench big /tmp/rand-8b /tmp/jit --rounds 10 --scenario primed --scenario raw --scenario http ;;
  smol6) bench interleaved smollm2 /tmp/jit --rounds 10 --scenario primed --scenario raw --scenario http \
      --scenario primed --scenario raw --scenario http ;;
  big6) bench reversed /tmp/rand-8b /tmp/jit --rounds 10 --scenario raw --scenario primed --scenario http ;;
  setup7) install; bench big-a /tmp/rand-8b /tmp/jit --rounds 10 --scenario primed ;;
  big7) bench big-b /tmp/rand-8b /tmp/jit --rounds 10 --scenario raw --scenario http --scenario raw-async \
      --scenario primed ;;
  run8a) install; each primed raw primed raw primed ;;
  run8b) each raw primed raw-async http raw primed ;;
  load)
    for variant in default fast-load prefetch; do
      evict /tmp/rand-8b | tee -a "$OUT/log-$step.txt"
      extra=()
      [ $variant = fast-load ] && extra=(--toggle fast-load)
      [ $variant = prefetch ] && extra=(--option safetensors_load_strategy=prefetch --option safetensors_prefetch_num_threads=16)
      bench "load-$variant" /tmp/rand-8b /tmp/jit --scenario eager:startup "${extra[@]}"
    done ;;
  *) echo "unknown step $step"; exit 2 ;;
esac
gzip -f "$OUT"/prof/*/*.txt 2>/dev/null || true
