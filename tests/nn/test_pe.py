"""PE/SE encoders: LapPE sign flip per batch from a generator, NaN padding masked, RRWP pair encoding."""
from __future__ import annotations

import pytest
import torch

from graphgen.nn import LapPENodeEncoder, NoPE, RRWPNodeEncoder, RRWPPairEncoder, RWSENodeEncoder
from graphgen.nn.pe import pair_positions


def _lap(n=5, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    vec, val = torch.randn(n, k, generator=g), torch.rand(1, k, generator=g).expand(n, k).clone()
    return vec, val


def test_lappe_eval_is_sign_invariant_only_through_training_flips():
    enc = LapPENodeEncoder(3, 4).eval()
    vec, val = _lap()
    h = torch.zeros(5, 2)
    out = enc(h, vec, val)
    assert out.shape == (5, 6) and torch.equal(out[:, :2], h)
    torch.testing.assert_close(enc(h, vec, val), out)                       # eval: deterministic, no flip


def test_lappe_training_flip_is_per_batch_and_reproducible():
    enc = LapPENodeEncoder(3, 4).train()
    vec, val = _lap()
    h = torch.zeros(5, 0)
    a = enc(h, vec, val, generator=torch.Generator().manual_seed(7))
    b = enc(h, vec, val, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b)
    # the flip is one sign per eigenvector for the whole batch: it equals eval on the flipped eigenvectors
    signs = torch.where(torch.rand(3, generator=torch.Generator().manual_seed(7)) < 0.5, -1.0, 1.0)
    torch.testing.assert_close(a, enc.eval()(h, vec * signs, val))
    # across batches the signs change
    outs = {tuple(enc.train()(h, vec, val, generator=torch.Generator().manual_seed(s)).sum(0).round(decimals=4)
                  .tolist()) for s in range(8)}
    assert len(outs) > 1


def test_lappe_padding_is_masked():
    enc = LapPENodeEncoder(3, 4).eval()
    vec, val = _lap()
    padded_vec, padded_val = vec.clone(), val.clone()
    padded_vec[:, 2], padded_val[:, 2] = float("nan"), float("nan")
    out = enc(torch.zeros(5, 0), padded_vec, padded_val)
    assert torch.isfinite(out).all()
    # equal to summing only the first two eigenpairs
    pair = torch.stack([vec[:, :2], val[:, :2]], -1)
    torch.testing.assert_close(out, enc.rho(enc.phi(pair).sum(1)))


def test_rwse_and_rrwp_node_encoders_shapes_and_errors():
    rw = RWSENodeEncoder(4, 3)
    assert rw(torch.zeros(6, 5), torch.rand(6, 4)).shape == (6, 8)
    with pytest.raises(ValueError, match="AddRWSE"):
        rw(torch.zeros(6, 5), torch.rand(6, 5))
    rr = RRWPNodeEncoder(4, 5)
    assert rr(torch.zeros(6, 5), torch.rand(6, 4)).shape == (6, 5)
    assert NoPE()(torch.ones(2, 3)).shape == (2, 3)
    assert repr(rw) == "RWSENodeEncoder(steps=4, dim_pe=3)"


def test_pair_encoder_adds_bonds_at_their_pairs():
    pairs = torch.tensor([[0, 1, 0, 1], [0, 0, 1, 1]])                     # all pairs of a 2-node graph
    edges = torch.tensor([[1, 0], [0, 1]])
    pos = pair_positions(pairs, edges, 2)
    assert pos.tolist() == [1, 2]
    enc = RRWPPairEncoder(3, 2)
    val = torch.rand(4, 3)
    bond = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = enc(pairs, val, edges, bond, 2)
    base = enc.lin(val)
    torch.testing.assert_close(out[[0, 3]], base[[0, 3]])
    torch.testing.assert_close(out[[1, 2]], base[[1, 2]] + bond)
    with pytest.raises(ValueError, match="not in rrwp_index"):
        pair_positions(pairs[:, :2], edges, 2)
