"""One training loop for every network the package trains: the attribute heads, the CNN classifier (which is
a one-head :class:`~explainendo.heads.AttributeHeads`) and the soft-mask U-Net.

``Training`` holds the optimisation settings (a component: it clones, round-trips through YAML and is saved in
the parent's ``component.yaml``); :func:`train_network` runs them. What differs between networks is only the
loss of one batch, which the caller passes as a function of the batch's indices; shuffling, the optimiser,
the learning-rate schedule, batch-norm-safe batching, the progress bar, the per-epoch history and early
stopping on a validation score are written once, here.

The loop, per epoch: a permutation of the ``n`` items from the caller's seeded ``generator``; batches of
``batch_size`` (a last batch of one item is skipped when there are two or more items: batch norm needs two);
``loss = batch_loss(indices)`` (None: nothing labelled in the batch, no step); AdamW (``weight_decay=0`` is
plain Adam); the schedule steps after every batch (``"onecycle"``: one cycle over the whole run, 15% warm-up)
or after every epoch (``"cosine"``: cosine annealing to 0 over ``epochs``; ``"constant"``: none). With a
``validate`` function, each epoch's record carries its scores, and with ``patience`` the run stops after that
many epochs without a better ``score``; the best epoch's weights are restored either way.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

import numpy as np

from .components import Settings, register_component
from .errors import ConfigError

SCHEDULES = ("onecycle", "cosine", "constant")


@register_component("training")
class Training(Settings):
    """Optimisation settings shared by every trained network.

    ``epochs``, ``batch_size``, ``lr`` (the peak learning rate), ``weight_decay`` (AdamW's decoupled decay; 0 is
    Adam), ``schedule`` (one of :data:`SCHEDULES`), ``patience`` (early stopping: epochs without a better
    validation score before the run stops; used only when a validation set is given; None: never stop early),
    ``device`` (``"cpu"``, ``"cuda"`` or ``"auto"``: the GPU when there is one), ``num_threads`` (torch threads
    while training and predicting; None: one per core).
    """

    def __init__(self, epochs: int = 10, batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 1e-4,
                 schedule: str = "onecycle", patience: int | None = 3, device: str = "cpu",
                 num_threads: int | None = 2):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.patience = patience
        self.device = device
        self.num_threads = num_threads

    def check_params(self) -> "Training":
        for key in ("epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"Training({key}={value!r}): must be a positive integer")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"Training(lr={self.lr!r}): must be a positive number")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"Training(weight_decay={self.weight_decay!r}): must be a number >= 0")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Training(schedule={self.schedule!r}) is not a schedule", hint=f"use one of {SCHEDULES}")
        if self.patience is not None and (isinstance(self.patience, bool) or not isinstance(self.patience, int)
                                          or self.patience < 1):
            raise ConfigError(f"Training(patience={self.patience!r}): a positive integer or None")
        if self.device not in ("cpu", "cuda", "auto") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"Training(device={self.device!r})", hint="use 'cpu', 'cuda' or 'auto'")
        if self.num_threads is not None and (isinstance(self.num_threads, bool)
                                             or not isinstance(self.num_threads, int) or self.num_threads < 1):
            raise ConfigError(f"Training(num_threads={self.num_threads!r}): a positive integer or None")
        return self

    def steps_per_epoch(self, n: int) -> int:
        """Optimiser steps in one epoch over ``n`` items (a last batch of one item is skipped)."""
        bs = int(self.batch_size)
        return max(1, n // bs + (n % bs >= 2))


def train_network(net, n: int, batch_loss: Callable[[Any], Any], training: Training, *, generator,
                  name: str, validate: Callable[[], dict] | None = None, record: dict | None = None,
                  epoch_fields: Callable[[], dict] | None = None) -> list[dict]:
    """Train ``net`` (a torch module, on its device already) for ``training.epochs`` over ``n`` items.

    ``batch_loss(indices)`` returns the loss tensor of the items at ``indices`` (a torch LongTensor), or None
    when the batch has nothing to learn from. ``validate()`` returns the epoch's validation scores as a dict
    with a ``"score"`` (higher is better) and any other fields for the history. ``record``: fields added to
    every epoch's record (e.g. the phase); ``epoch_fields()``: called after each epoch's batches, its dict
    (e.g. the parts of the loss) joins that epoch's record. The progress bar shows the epoch's loss and, with
    ``validate``, its validation score. Returns one record per epoch run: ``epoch``, ``loss`` (mean batch
    loss), ``seconds`` and the validation fields. The net is left in eval mode, with the best validated
    epoch's weights when ``validate`` is given.
    """
    import torch

    from .progress import task

    training.check_params()
    epochs, bs = int(training.epochs), int(training.batch_size)
    params = [p for p in net.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=training.lr, weight_decay=training.weight_decay)
    scheduler, per_step = None, False
    if training.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=training.lr, pct_start=0.15,
                                                        total_steps=epochs * training.steps_per_epoch(n))
        per_step = True
    elif training.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    history: list[dict] = []
    best_score, best_state, since_best = -np.inf, None, 0
    with task(f"training {name}", total=epochs) as bar:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            net.train()
            order = torch.randperm(n, generator=generator)
            total, batches = 0.0, 0
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                if len(idx) < 2 and n >= 2:
                    continue  # batch norm needs two samples
                loss = batch_loss(idx)
                optimiser.zero_grad(set_to_none=True)
                if loss is not None:
                    loss.backward()
                    optimiser.step()
                    total += float(loss.detach())
                    batches += 1
                if per_step:
                    scheduler.step()
            if scheduler is not None and not per_step:
                scheduler.step()
            rec = {**(record or {}), "epoch": epoch + 1, "loss": total / max(batches, 1),
                   "seconds": time.perf_counter() - t0}
            if epoch_fields is not None:
                rec.update(epoch_fields())
            shown = {"loss": rec["loss"]}
            if validate is not None:
                scores = dict(validate())
                score = float(scores.pop("score"))
                rec.update(scores)
                shown["val"] = score
                if score > best_score:
                    best_score, since_best = score, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    since_best += 1
            history.append(rec)
            bar.advance(**shown)
            if validate is not None and training.patience is not None and since_best >= training.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return history
