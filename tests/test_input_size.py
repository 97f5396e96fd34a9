"""The smallest square input: against closed forms and a published minimum."""

from __future__ import annotations

import torch
from torch import nn

from incprof.analysis.input_size import runs_at, smallest_square_input
from incprof.registry import Variant, get


def _variant(build) -> Variant:
    return Variant("tiny", "user", "network", build, (1, 32, 32), "a test model")


def test_closed_form_of_a_conv_then_a_pool() -> None:
    # conv 3/2 unpadded: (s − 3) // 2 + 1 outputs; a 3/2 pool needs 3 of them: s ≥ 7.
    build = lambda: nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.MaxPool2d(3, 2))  # noqa: E731
    assert smallest_square_input(_variant(build), 1) == 7


class NeedsTen(nn.Module):
    """A forward that branches on the size: only running the model can see it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < 10:
            raise ValueError("too small for this model")
        return x.mean((2, 3))


def test_shape_dependent_forward_is_run_not_guessed() -> None:
    assert smallest_square_input(_variant(NeedsTen), 1) == 10
    assert not runs_at(NeedsTen(), (1, 9, 9)) and runs_at(NeedsTen(), (1, 10, 10))


def test_inception_v3_runs_from_75_pixels() -> None:
    """torchvision's documentation: inception_v3 expects inputs of at least 75×75."""
    assert smallest_square_input(get("inception_v3"), 3) == 75


def test_none_when_the_model_does_not_run_at_the_limit() -> None:
    build = lambda: nn.Conv2d(1, 1, 9)  # noqa: E731
    assert smallest_square_input(_variant(build), 1, limit=8) is None
