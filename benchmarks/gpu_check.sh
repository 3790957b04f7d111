#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one short run (meant for under 5 minutes on one GPU):
#   1. the tests marked `cuda` (mixed precision, channels_last, compile: tests/test_fast_path.py);
#   2. the MNIST -> USPS protocol in the paper profile, one seed (source-only, DANN, ADDA);
#   3. ResNet-50 DANN steps in images/s, mixed precision on and off.
# Each writes JSON under $OUT (default benchmarks/results/gpu-check); summary.json lists them.
# Usage: benchmarks/gpu_check.sh   (from anywhere; sets up .venv first, like make test)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu-check}"
DATA="${GANTL_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
mkdir -p "$OUT"
make -s setup
PY=.venv/bin/python
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: nothing to check")'

status=0
"$PY" -m pytest -q -m cuda --junitxml "$OUT/cuda-tests.xml" tests || status=$?
.venv/bin/gantl bench digits --protocol mnist-usps-adda --profile paper --seeds 0 \
    --methods source_only,dann,adda --data-dir "$DATA" --out "$OUT/digits-paper.json" --quiet \
    || status=$?
"$PY" benchmarks/resnet_throughput.py --model resnet50 --size 224 --batch 32 --steps 20 \
    --out "$OUT/resnet50-dann-throughput.json" || status=$?

"$PY" - "$OUT" "$status" <<'PY'
import json, sys, pathlib
out, status = pathlib.Path(sys.argv[1]), int(sys.argv[2])
files = sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".xml") and p.name != "summary.json")
(out / "summary.json").write_text(json.dumps({"exit_status": status, "files": files}, indent=2) + "\n")
print(f"gpu_check: exit {status}; wrote {out}/summary.json")
PY
exit "$status"
