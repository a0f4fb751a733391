"""Tests of offboard.dreamer.rssm: shapes, is_first masking, action normalisation, free nats."""

from __future__ import annotations

import torch

from offboard.dreamer.rssm import RSSM


def make_rssm() -> RSSM:
    return RSSM(deter=32, hidden=16, stoch=4, classes=5, action_dim=2, embed_dim=7, blocks=8)


def observe(rssm: RSSM, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor,
            seed: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return rssm.observe(embed, action, is_first, rssm.initial(embed.shape[0]))


def test_shapes_and_one_hot_samples() -> None:
    rssm = make_rssm()
    out = observe(rssm, torch.randn(3, 6, 7), torch.randn(3, 6, 2), torch.zeros(3, 6).bool())
    assert out["deter"].shape == (3, 6, 32)
    assert out["stoch"].shape == (3, 6, 4, 5)
    assert out["post"].shape == (3, 6, 4, 5)
    assert torch.allclose(out["stoch"].sum(-1), torch.ones(3, 6, 4))
    assert rssm.prior(out["deter"]).shape == (3, 6, 4, 5)
    assert rssm.feat_dim == 32 + 20


def test_is_first_resets_state_and_action() -> None:
    rssm = make_rssm()
    embed, action = torch.randn(2, 8, 7), torch.randn(2, 8, 2)
    is_first = torch.zeros(2, 8).bool()
    is_first[:, 4] = True
    base = observe(rssm, embed, action, is_first)
    changed_embed, changed_action = embed.clone(), action.clone()
    changed_embed[:, :4] += 5.0
    changed_action[:, :5] += 3.0  # includes the action fed into the reset step
    other = observe(rssm, changed_embed, changed_action, is_first)
    assert not torch.allclose(base["deter"][:, :4], other["deter"][:, :4])
    assert torch.allclose(base["deter"][:, 4:], other["deter"][:, 4:], atol=1e-6)
    # a reset step equals the first step of a fresh sequence
    fresh = observe(rssm, embed[:, 4:], torch.zeros(2, 4, 2), torch.ones(2, 4).bool())
    assert torch.allclose(fresh["deter"][:, 0], base["deter"][:, 4], atol=1e-6)


def test_actions_are_normalised_by_their_magnitude() -> None:
    rssm = make_rssm()
    big = rssm.action_input(torch.tensor([[5.0, 0.5]]))
    unit = rssm.action_input(torch.tensor([[1.0, 0.5]]))
    inside = rssm.action_input(torch.tensor([[0.9, 0.5]]))
    assert torch.allclose(big, unit)
    assert not torch.allclose(inside, unit)


def test_kl_losses_clipped_at_free_nats_with_split_gradients() -> None:
    rssm = make_rssm()
    post = torch.log_softmax(torch.randn(2, 3, 4, 5) * 3, -1).requires_grad_()
    prior = torch.log_softmax(torch.randn(2, 3, 4, 5) * 3, -1).requires_grad_()
    dyn, rep = rssm.kl_losses(post, prior, free_nats=1.0)
    assert torch.all(dyn >= 1.0) and torch.all(rep >= 1.0)
    dyn.sum().backward()
    assert post.grad is None and prior.grad is not None
    same = torch.log_softmax(torch.randn(2, 3, 4, 5), -1)
    dyn, rep = rssm.kl_losses(same, same, free_nats=1.0)
    assert torch.all(dyn == 1.0) and torch.all(rep == 1.0)
