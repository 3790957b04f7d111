"""How fast a prepared split becomes training tensors (DESIGN: digits load once, in memory).

Writes a 10,000-image split of each contract shape, reads it back into float tensors five
times, and prints/writes the best time. Usage:

    .venv/bin/python benchmarks/load_speed.py [--out benchmarks/results/load_speed.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from gantl.checkpoint import git_commit
from gantl.data.store import read_split, write_split


def measure(shape: tuple[int, int, int], n: int = 10_000, repeats: int = 5) -> dict:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    ids = np.array([f"bench/{i}" for i in range(n)], dtype=object)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "split.parquet"
        write_split(path, images, labels, ids, ids, {"domain": "bench"})
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            read_split(path).tensors()
            times.append(time.perf_counter() - start)
        size = path.stat().st_size
    return {"shape": list(shape), "n": n, "best_s": min(times), "file_mb": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/load_speed.json"))
    args = parser.parse_args()
    results = [measure((28, 28, 1)), measure((32, 32, 3))]
    for r in results:
        print(
            f"{r['n']:,} images {r['shape']}: {r['best_s'] * 1000:.1f} ms ({r['file_mb']:.1f} MB)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"commit": git_commit(), "machine": platform.platform(), "results": results}
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
