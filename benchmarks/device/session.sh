#!/usr/bin/env bash
# One step of the GPU measurement session (docs/benchmarks.md). Run from the repository root on the device
# once stage-vllm's parts are in /tmp/stage. Each step writes its reports and logs under $OUT.
#   setup   unpack and install the staged wheels, convert SmolLM2 through liftinfer's model path, build the
#           random 7.4B model, then SmolLM2 "cold" (no caches; fills the compile root)
#   smol    SmolLM2: primed, eager, raw vLLM (same settings), raw vLLM default, HTTP, then the xgrammar variant
#   big-a   random 7.4B: cold, primed, eager start
#   big-b   random 7.4B: raw, raw default, HTTP; then fast-load against the default loader, cold page cache
set -uo pipefail
step=$1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 LIFTINFER_CACHE_DIR=/tmp/lcache
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
common=(--backend vllm --option gpu_memory_utilization=0.6 --set max_model_len=4096 --scratch-home)
bench() {  # bench NAME MODEL COMPILE_ROOT ARGS...
  local name=$1 model=$2 root=$3; shift 3
  python3 -m liftinfer bench --model "$model" "${common[@]}" --compile-root "$root" \
    --out "$OUT/$step-$name.json" "$@" 2>&1 | tee -a "$OUT/log-$step.txt" | grep -E "Error|error|Traceback|│|┃|wrote" || true
}
case $step in
  setup)
    cat /tmp/stage/part* | tar xf - -C /tmp && rm -f /tmp/stage/part* && bash /tmp/stage/install.sh
    bash benchmarks/device/prepare.sh 8b 2>&1 | tail -4
    bench smollm2 smollm2 /tmp/jit-smollm2 --scenario cold ;;
  smol)
    bench smollm2 smollm2 /tmp/jit-smollm2 --scenario primed --scenario eager --scenario raw --scenario raw-default --scenario http
    bench xgrammar smollm2 /tmp/jit-smollm2 --scenario library --set grammar_backend=xgrammar
    du -sh /tmp/jit-smollm2/* ;;
  big-a) bench big /tmp/rand-8b /tmp/jit-big --scenario cold --scenario primed --scenario eager:startup ;;
  big-b)
    bench big /tmp/rand-8b /tmp/jit-big --scenario raw --scenario raw-default --scenario http
    for variant in default fast-load; do
      sync; echo 3 > /proc/sys/vm/drop_caches
      extra=(); [ $variant = fast-load ] && extra=(--toggle fast-load)
      bench "load-$variant" /tmp/rand-8b /tmp/jit-big --scenario eager:startup "${extra[@]}"
    done ;;
esac
