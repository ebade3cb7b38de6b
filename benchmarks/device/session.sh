#!/usr/bin/env bash
# One step of the GPU measurement session (see docs/benchmarks.md). Run from the repository root on the
# device after stage-vllm's parts are in /tmp/stage. Every step writes its report and log under $OUT.
#   setup     unpack and install the staged wheels, convert SmolLM2, build the random 7.4B model, smoke test
#   smol-a    SmolLM2: cold (no caches, fills the compile root), primed
#   smol-b    SmolLM2: eager, raw vLLM (liftinfer's settings), raw vLLM default, HTTP, xgrammar variant
#   big-a     random 7.4B: cold, primed, eager start
#   big-b     random 7.4B: raw, raw default, HTTP; then fast-load vs default loader from a cold page cache
set -uo pipefail
step=$1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 LIFTINFER_CACHE_DIR=/tmp/lcache
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SMOL=smollm2
BIG=/tmp/rand-8b
common=(--option gpu_memory_utilization=0.6 --set max_model_len=4096 --scratch-home)
bench() {  # bench NAME MODEL ARGS...
  local name=$1 model=$2; shift 2
  python3 -m liftinfer bench --backend vllm --model "$model" "${common[@]}" --compile-root "/tmp/jit-$name" \
    --out "$OUT/$name.json" "$@" 2>&1 | tee -a "$OUT/log-$step.txt" | grep -E "RESULT|Error|error|│|┃|wrote" || true
}
case $step in
  setup)
    cat /tmp/stage/part* | tar xf - -C /tmp && rm -f /tmp/stage/part* && bash /tmp/stage/install.sh
    bash benchmarks/device/prepare.sh 8b 2>&1 | tail -5
    python3 -m liftinfer bench --backend vllm --model $SMOL "${common[@]}" --compile-root /tmp/jit-smoke \
      -n 8 --scenario eager --out "$OUT/smoke.json" 2>&1 | tee "$OUT/log-setup.txt" | tail -25
    ;;
  smol-a) bench smollm2 $SMOL --scenario cold --scenario primed ;;
  smol-b) bench smollm2 $SMOL --scenario eager --scenario raw --scenario raw-default --scenario http
          bench smollm2-xgrammar $SMOL --compile-root /tmp/jit-smollm2 --scenario library --set grammar_backend=xgrammar
          du -sh /tmp/jit-smollm2/* ;;
  big-a) bench big $BIG --scenario cold --scenario primed --scenario eager:startup ;;
  big-b) bench big $BIG --scenario raw --scenario raw-default --scenario http
         for variant in default fast-load; do
           sync; echo 3 > /proc/sys/vm/drop_caches
           extra=(); [ $variant = fast-load ] && extra=(--toggle fast-load)
           bench "load-$variant" $BIG --compile-root /tmp/jit-big --scenario eager:startup "${extra[@]}"
         done ;;
esac
