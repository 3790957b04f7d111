"""Per-epoch means of the float logs a training step returns."""

from __future__ import annotations


class EpochAverage:
    """Mean of each logged value over the steps that logged it (a GAN's G may log every
    `n_critic` steps only)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        return {key: total / self.counts[key] for key, total in self.sums.items()}
