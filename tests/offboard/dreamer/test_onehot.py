"""Tests of offboard.dreamer.onehot: heads on index features equal heads on dense features."""

from __future__ import annotations

import pytest
import torch

from offboard.dreamer.heads import Head
from offboard.dreamer.onehot import OneHotFeat, one_hot_transposed


def _features(lead: tuple[int, ...] = (4, 3)) -> OneHotFeat:
    return OneHotFeat(torch.randn(*lead, 6), torch.randint(0, 5, (*lead, 7)), 5)


def test_shape_map_and_dense_layout() -> None:
    feat = _features()
    dense = feat.to_dense()
    assert feat.shape == dense.shape == (4, 3, 6 + 7 * 5)
    assert torch.equal(dense[..., :6], feat.dense)
    assert torch.equal(dense[..., 6:].reshape(4, 3, 7, 5).argmax(-1), feat.index)
    assert feat.map(lambda t: t[:, 1:]).shape == (4, 2, 41)


def test_head_on_index_features_matches_dense_with_gradients_float32() -> None:
    head = Head(41, 16, 2, 9, 1.0)
    feat = _features()
    sparse = head(feat)
    sparse.square().sum().backward()
    sparse_grads = [p.grad.clone() for p in head.parameters()]
    head.zero_grad()
    dense = head(feat.to_dense())
    dense.square().sum().backward()
    assert sparse.shape == dense.shape == (4, 3, 9)
    assert torch.allclose(sparse, dense, atol=1e-5)
    for a, b in zip(sparse_grads, [p.grad for p in head.parameters()], strict=True):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("width", [0, 6])
def test_index_features_under_bfloat16_autocast(width: int) -> None:
    head = Head(width + 35, 16, 1, 9, 1.0)
    feat = OneHotFeat(torch.randn(8, width), torch.randint(0, 5, (8, 7)), 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sparse, dense = head(feat), head(feat.to_dense())
    assert sparse.dtype == dense.dtype == torch.bfloat16
    assert torch.allclose(sparse.float(), dense.float(), rtol=0.02, atol=0.02)


@pytest.mark.parametrize(("classes", "dtype"), [(5, torch.float32), (16, torch.bfloat16),
                                                (300, torch.float32)])
def test_transposed_one_hot_equals_the_flattened_one_hot(classes: int,
                                                         dtype: torch.dtype) -> None:
    index = torch.randint(0, classes, (37, 4))
    expected = torch.nn.functional.one_hot(index, classes).flatten(-2).t().to(dtype)
    got = one_hot_transposed(index, classes, dtype)
    assert got.dtype == dtype and got.shape == (4 * classes, 37)
    assert torch.equal(got, expected)
