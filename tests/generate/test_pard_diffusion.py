"""Categorical diffusion: closed forms checked against explicit transition matrices and Bayes' rule."""
from __future__ import annotations

import pytest
import torch

from graphgen.generate.pard.diffusion import CategoricalDiffusion, cosine_alpha_bar


def matrices(diff: CategoricalDiffusion) -> list[torch.Tensor]:
    K, m = diff.num_classes, diff.limit.double()
    eye = torch.eye(K, dtype=torch.float64)
    return [a * eye + (1 - a) * m.expand(K, K) for a in diff.alpha.double()]  # Q_t, rows = previous state


@pytest.mark.parametrize("limit", [torch.ones(3), torch.tensor([0.7, 0.2, 0.1])], ids=["uniform", "marginal"])
def test_qbar_is_product_of_steps(limit):
    diff = CategoricalDiffusion(3, 6, limit)
    Q = matrices(diff)
    prod = torch.eye(3, dtype=torch.float64)
    for t in range(1, 7):
        prod = prod @ Q[t]
        x0 = torch.arange(3)
        got = diff.q_xt_given_x0(x0, torch.tensor(t)).double()
        torch.testing.assert_close(got, prod, atol=1e-5, rtol=0)


@pytest.mark.parametrize("limit", [torch.ones(4), torch.tensor([0.5, 0.3, 0.15, 0.05])], ids=["uniform", "marginal"])
def test_posterior_matches_bayes(limit):
    diff = CategoricalDiffusion(4, 5, limit)
    Q = matrices(diff)
    Qbar = [torch.eye(4, dtype=torch.float64)]
    for t in range(1, 6):
        Qbar.append(Qbar[-1] @ Q[t])
    g = torch.Generator().manual_seed(0)
    for t in range(1, 6):
        for xt in range(4):
            p0 = torch.rand(4, generator=g, dtype=torch.float64)
            p0 /= p0.sum()
            # brute force: sum_i p0[i] * q(x_{t-1}=k | x_t, x_0=i), with q from Bayes' rule
            expect = torch.zeros(4, dtype=torch.float64)
            for i in range(4):
                joint = Qbar[t - 1][i] * Q[t][:, xt]  # over k: q(x_{t-1}=k|x0=i) q(x_t|x_{t-1}=k)
                expect += p0[i] * joint / joint.sum()
            got = diff.posterior(torch.tensor([xt]), p0.float().unsqueeze(0), torch.tensor(t))[0].double()
            torch.testing.assert_close(got, expect, atol=1e-5, rtol=0)


def test_posterior_at_t1_returns_prediction_and_prior_is_limit():
    diff = CategoricalDiffusion(3, 10, torch.tensor([0.6, 0.3, 0.1]))
    p0 = torch.tensor([[0.2, 0.5, 0.3]])
    torch.testing.assert_close(diff.posterior(torch.tensor([2]), p0, torch.tensor(1)), p0)
    torch.testing.assert_close(diff.q_xt_given_x0(torch.tensor([1]), torch.tensor(10)), diff.limit.unsqueeze(0),
                               atol=1e-6, rtol=0)
    abar = cosine_alpha_bar(10)
    assert abar[0] == 1 and torch.all(abar[1:] <= abar[:-1])


def test_loss_terms_zero_for_perfect_prediction():
    diff = CategoricalDiffusion(3, 8, torch.ones(3))
    x0 = torch.tensor([0, 1, 2, 1])
    t = torch.tensor([1, 3, 5, 8])
    xt = diff.sample_xt(x0, t, torch.Generator().manual_seed(0))
    logits = torch.nn.functional.one_hot(x0, 3).float() * 50
    vlb, ce = diff.loss_terms(x0, xt, t, logits)
    assert vlb.abs().max() < 1e-4 and ce.max() < 1e-4
    vlb_bad, ce_bad = diff.loss_terms(x0, xt, t, -logits)
    assert (ce_bad > 10).all() and (vlb_bad[t > 1] >= 0).all()


def test_sampling_is_deterministic_given_generator():
    diff = CategoricalDiffusion(4, 10, torch.ones(4))
    x0 = torch.randint(0, 4, (100,), generator=torch.Generator().manual_seed(1))
    a = diff.sample_xt(x0, torch.tensor(5), torch.Generator().manual_seed(3))
    b = diff.sample_xt(x0, torch.tensor(5), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_bad_limit_shape():
    with pytest.raises(ValueError, match=r"limit must have shape \[3\]"):
        CategoricalDiffusion(3, 10, torch.ones(4))
