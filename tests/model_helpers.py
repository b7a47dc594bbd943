"""What the model tests share: a few optimiser steps on one batch."""

from __future__ import annotations

import torch


def fit(model, batch: dict, steps: int, lr: float = 1e-2, optimiser=torch.optim.Adam) -> list[dict]:
    """`steps` steps of `optimiser` on one batch in training mode; the loss terms (`model.loss`'s) of each step."""
    opt = optimiser(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        model.train()
        loss, terms = model.loss(model(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(terms)
    return history
