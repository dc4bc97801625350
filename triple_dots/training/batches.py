"""Deterministic, resumable batch order: epochs are ``DistributedSampler`` permutations seeded by (seed, epoch).

Every epoch has the same number of full batches, so the whole data-order state is how many batches
the run has consumed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler

from triple_dots.errors import BadInputError


class ResumableBatches:
    """An endless batch sampler (lists of dataset indexes, ``batch_size`` per process) starting after ``consumed``."""

    def __init__(self, dataset: Sized, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1,
                 consumed: int = 0) -> None:
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                          drop_last=True)
        self.batch_size = batch_size
        self.per_epoch = self.sampler.num_samples // batch_size
        if self.per_epoch < 1:
            raise BadInputError(
                f"the training set has {len(dataset)} images: too few for batch size {batch_size} on "
                f"{world_size} process(es); lower --batch-size or add images"
            )
        self.start = consumed

    def epochs(self) -> Iterator[tuple[int, list[list[int]]]]:
        """Endless ``(epoch, batches left in it)``, the first epoch cut after ``consumed`` batches."""
        epoch, first = divmod(self.start, self.per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            order = list(iter(self.sampler))
            yield epoch, [order[b * self.batch_size : (b + 1) * self.batch_size] for b in range(first, self.per_epoch)]
            epoch, first = epoch + 1, 0

    def __iter__(self) -> Iterator[list[int]]:
        for _, batches in self.epochs():
            yield from batches
