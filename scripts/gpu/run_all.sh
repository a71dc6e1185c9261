#!/usr/bin/env bash
# run_all.sh — everything the CUDA backend needs checked on a GPU machine, in
# one go: build, parity against the C reference, parity against
# transformers, the speed benchmark, and a memcheck pass over the parity
# program. Logs go to $OUT (default ./gpu-out).
#
#   scripts/gpu/run_all.sh [stages]     stages: any of build,parity,hf,bench,sanitize
set -u -o pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
STAGES=${1:-build,parity,sanitize,hf,bench}
export PYTHONUNBUFFERED=1
has() { [[ ",$STAGES," == *",$1,"* ]]; }
stage() { echo "=== $1 ($(date +%T))"; }
nvidia-smi -L 2>&1 | tee "$OUT/gpu.txt"
nvcc --version | tail -2 | tee -a "$OUT/gpu.txt"
if has build; then
  stage build
  make -j8 cuda cpu-so parity 2>&1 | tee "$OUT/build.log" | grep -v '^nvcc\|^cc ' || true
  [ -f build/libresyn_cuda.so ] || { echo "build failed"; tail -30 "$OUT/build.log"; exit 1; }
fi
if has parity; then
  stage "parity (CUDA vs C reference)"
  timeout 240 build/parity build/libresyn_cpu.so build/libresyn_cuda.so 2>&1 | tee "$OUT/parity.log" | grep -v ' ok$' || true
fi
if has sanitize; then
  stage "compute-sanitizer memcheck over parity"
  timeout ${SAN_TIMEOUT:-120} compute-sanitizer --tool memcheck --print-limit 20 build/parity build/libresyn_cpu.so \
    build/libresyn_cuda.so > "$OUT/sanitizer.log" 2>&1
  echo "sanitizer exit $?"; grep -m 20 -i "error\|invalid\|SUMMARY" "$OUT/sanitizer.log" || true
fi
if has hf; then
  stage "hf parity (CUDA vs transformers)"
  timeout 240 python3 scripts/gpu/hf_parity.py --lib build/libresyn_cuda.so --ref build/libresyn_cpu.so \
    --json "$OUT/hf_parity.json" 2>&1 | tee "$OUT/hf_parity.log" | grep -v Warning || true
fi
if has bench; then
  stage bench
  timeout ${BENCH_TIMEOUT:-420} python3 scripts/gpu/bench.py --lib build/libresyn_cuda.so --out "$OUT/bench.json" \
    ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log" | grep -v Warning || true
fi
stage done
