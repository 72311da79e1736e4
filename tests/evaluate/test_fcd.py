"""FCD: FCD(X, X) ~ 0, agreement of the eigenvalue trace term with fcd_torch's sqrtm form, and a clear gap between
different chemistries."""
from __future__ import annotations

import numpy as np
import pytest
from fcd_torch.utils import calculate_frechet_distance

from graphgen.evaluate.fcd import FCDStats, chemnet_activations, fcd, fcd_stats, frechet_distance

SMALL = ["CCO", "CCN", "CC(=O)O", "c1ccccc1", "CC(C)O", "OCCO", "CCCC", "C1CCCCC1", "CC#N", "COC", "NCC(=O)O",
         "c1ccncc1", "CC(=O)C", "OC1CCCC1", "CCOC(=O)C", "FC(F)F"]
DRUGLIKE = ["CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
            "COc1ccc2[nH]cc(CCNC(C)=O)c2c1", "O=C(O)c1ccccc1O", "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21",
            "Clc1ccc(C(c2ccccc2)n2ccnc2)cc1", "CC(C)NCC(O)c1ccc(O)c(O)c1", "O=C1NC(=O)C(c2ccccc2)(c2ccccc2)N1",
            "CCN(CC)CCNC(=O)c1ccc(N)cc1", "CC12CCC3c4ccc(O)cc4CCC3C1CCC2O", "Nc1ccc(S(=O)(=O)Nc2ccccn2)cc1",
            "CN(C)CCCN1c2ccccc2CCc2ccccc21", "OC(c1ccccc1)(c1ccccc1)C1CCNCC1", "CC(=O)Nc1ccc(O)cc1",
            "O=C(c1ccccc1)c1ccccc1"]


def test_fcd_of_a_set_with_itself_is_zero():
    assert abs(fcd(SMALL, SMALL, progress=False)) < 1e-3


def test_fcd_separates_chemistries_and_is_symmetric():
    small, drug = fcd_stats(SMALL, progress=False), fcd_stats(DRUGLIKE, progress=False)
    a = frechet_distance(small, drug)
    assert a > 5.0
    assert a == pytest.approx(frechet_distance(drug, small), rel=1e-6)
    assert fcd(SMALL, drug, progress=False) == pytest.approx(a, rel=1e-9)  # precomputed reference statistics


def test_trace_term_matches_fcd_torch():
    rng = np.random.default_rng(0)
    for n in (5, 40):  # rank-deficient and full-rank covariances
        x, y = rng.normal(size=(n, 32)), rng.normal(0.3, 1.5, size=(n + 7, 32))
        sa = FCDStats(x.mean(0), np.cov(x, rowvar=False), n)
        sb = FCDStats(y.mean(0), np.cov(y, rowvar=False), n + 7)
        ref = calculate_frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)
        assert frechet_distance(sa, sb) == pytest.approx(ref, rel=1e-6)


def test_activations_shape_and_order():
    act = chemnet_activations(SMALL, progress=False)
    assert act.shape == (len(SMALL), 512)
    np.testing.assert_allclose(chemnet_activations(SMALL[::-1], progress=False), act[::-1], atol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        fcd_stats(["C"])
