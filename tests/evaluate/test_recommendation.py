"""Recall@K / NDCG@K with full ranking: hand-computed cases, invariances, a plain-Python reference, and errors."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphgen.errors import InputError
from graphgen.evaluate import rank_metrics, rank_metrics_from_scores
from tests.fuzz import expect_error, expect_result, run_case

# 4 users x 5 items. item_emb = (a, b) with a = 5..1 and b = 1..5: user (1, 0) scores [5, 4, 3, 2, 1], user (0, 1)
# scores [1, 2, 3, 4, 5], user (0, 0) scores all 0 (ties: lower item index first), user 3 has no held-out item.
ITEMS = torch.tensor([[5.0, 1.0], [4.0, 2.0], [3.0, 3.0], [2.0, 4.0], [1.0, 5.0]])
USERS = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
HELDOUT = torch.tensor([[0, 0, 1, 2], [1, 3, 4, 3]])   # user 0: items 1, 3; user 1: item 4; user 2: item 3
EXCLUDE = torch.tensor([[0, 2, 3], [0, 4, 2]])          # user 0 never ranks item 0, user 2 never ranks item 4


def _dcg(ranks) -> float:
    return sum(1 / math.log2(r + 2) for r in ranks)


def test_hand_computed_k2():
    # after exclusion: user 0 ranks 1, 2, 3, 4 -> item 1 at rank 0 (hit), item 3 at rank 2 (miss);
    # user 1 ranks 0, 1, 2, 3, 4 (all tied) -> item 4 at rank 4 (miss); user 2 ranks 3, 2, 1, 0 -> item 3 at rank 0.
    got = rank_metrics(USERS, ITEMS, HELDOUT, EXCLUDE, k=2)
    recall = (1 / 2 + 0 + 1) / 3
    ndcg = (_dcg([0]) / _dcg([0, 1]) + 0 + 1) / 3
    assert got == pytest.approx({"recall@2": recall, "ndcg@2": ndcg, "num_users": 3}, abs=1e-12)
    assert got["num_users"] == 3  # user 3 has no held-out item: not averaged


def test_hand_computed_k_at_least_items():
    for k in (5, 50):  # more positions than items: every held-out item is a hit
        got = rank_metrics(USERS, ITEMS, HELDOUT, EXCLUDE, k=k)
        ndcg = (_dcg([0, 2]) / _dcg([0, 1]) + _dcg([4]) / _dcg([0]) + 1) / 3
        assert got[f"recall@{k}"] == 1.0 and got[f"ndcg@{k}"] == pytest.approx(ndcg, abs=1e-12)


def test_exclusion_moves_items_up():
    # without exclusion user 0's item 1 sits behind item 0 and user 2's item 3 behind item 4
    got = rank_metrics(USERS, ITEMS, HELDOUT, None, k=1)
    assert got == pytest.approx({"recall@1": 0.0, "ndcg@1": 0.0, "num_users": 3})
    got = rank_metrics(USERS, ITEMS, HELDOUT, EXCLUDE, k=1)
    assert got == pytest.approx({"recall@1": (1 / 2 + 0 + 1) / 3, "ndcg@1": (1 + 0 + 1) / 3, "num_users": 3})


def test_scores_entry_point_and_batches_agree():
    scores = USERS @ ITEMS.T
    reference = rank_metrics(USERS, ITEMS, HELDOUT, EXCLUDE, k=3)
    for batch_size in (1, 2, 3, 1024):
        assert rank_metrics(USERS, ITEMS, HELDOUT, EXCLUDE, k=3, batch_size=batch_size) == reference
        assert rank_metrics_from_scores(scores, HELDOUT, EXCLUDE, k=3, batch_size=batch_size) == reference


def _reference(scores: torch.Tensor, heldout: torch.Tensor, exclude: torch.Tensor | None, k: int) -> dict:
    """Plain Python: each user sorts its non-excluded items by (-score, item) and reads ranks off the list."""
    excluded = set() if exclude is None else set(map(tuple, exclude.T.tolist()))
    held: dict[int, list[int]] = {}
    for u, i in heldout.T.tolist():
        held.setdefault(u, []).append(i)
    recalls, ndcgs = [], []
    for u, items in held.items():
        order = sorted((i for i in range(scores.shape[1]) if (u, i) not in excluded),
                       key=lambda i: (-float(scores[u, i]), i))
        ranks = [order.index(i) for i in items if order.index(i) < k]
        recalls.append(len(ranks) / len(items))
        ndcgs.append(_dcg(ranks) / _dcg(range(min(len(items), k))))
    return {f"recall@{k}": sum(recalls) / len(recalls), f"ndcg@{k}": sum(ndcgs) / len(ndcgs), "num_users": len(held)}


@st.composite
def ranking_cases(draw):
    """Integer-valued embeddings (exact scores, many ties), disjoint held-out / excluded pairs."""
    num_users, num_items, width = draw(st.integers(1, 6)), draw(st.integers(1, 8)), draw(st.integers(1, 3))
    values = st.integers(-2, 2)
    user_emb = torch.tensor(draw(st.lists(st.lists(values, min_size=width, max_size=width), min_size=num_users,
                                          max_size=num_users)), dtype=torch.float32)
    item_emb = torch.tensor(draw(st.lists(st.lists(values, min_size=width, max_size=width), min_size=num_items,
                                          max_size=num_items)), dtype=torch.float32)
    cells = draw(st.lists(st.sampled_from(["held", "excluded", "none"]), min_size=num_users * num_items,
                          max_size=num_users * num_items))
    if "held" not in cells:
        cells[draw(st.integers(0, len(cells) - 1))] = "held"
    pairs = {kind: torch.tensor([[c // num_items, c % num_items] for c, x in enumerate(cells) if x == kind],
                                dtype=torch.long).reshape(-1, 2).T for kind in ("held", "excluded")}
    k = draw(st.integers(1, num_items + 2))
    return user_emb, item_emb, pairs["held"], pairs["excluded"], k


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(ranking_cases(), st.integers(1, 4))
def test_matches_reference_and_batching(case, batch_size):
    user_emb, item_emb, heldout, exclude, k = case
    expected = _reference(user_emb @ item_emb.T, heldout, exclude, k)
    got = rank_metrics(user_emb, item_emb, heldout, exclude, k=k, batch_size=batch_size)
    assert got["num_users"] == expected["num_users"]
    for key in (f"recall@{k}", f"ndcg@{k}"):
        assert got[key] == pytest.approx(expected[key], abs=1e-12) and 0.0 <= got[key] <= 1.0
    assert rank_metrics_from_scores(user_emb @ item_emb.T, heldout, exclude, k=k) == got


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ranking_cases(), st.randoms(use_true_random=False))
def test_permutations_leave_metrics_unchanged(case, rnd):
    user_emb, item_emb, heldout, exclude, k = case
    num_users, num_items = user_emb.shape[0], item_emb.shape[0]
    # distinct scores, so relabelling items cannot change the tie order
    scores = torch.tensor([rnd.sample(range(1000), num_items) for _ in range(num_users)], dtype=torch.float64)
    base = rank_metrics_from_scores(scores, heldout, exclude, k=k)
    users = torch.tensor(rnd.sample(range(num_users), num_users))     # new position of each user
    items = torch.tensor(rnd.sample(range(num_items), num_items))     # new position of each item
    moved = torch.empty_like(scores)
    moved[users[:, None], items[None, :]] = scores
    relabel = lambda p: torch.stack([users[p[0]], items[p[1]]])  # noqa: E731
    got = rank_metrics_from_scores(moved, relabel(heldout), relabel(exclude), k=k)
    assert got == pytest.approx(base, abs=1e-12)
    # with ties, relabelling users alone never changes anything (ties are broken by item index)
    tied = user_emb @ item_emb.T
    moved_users = torch.empty_like(tied)
    moved_users[users] = tied
    user_only = lambda p: torch.stack([users[p[0]], p[1]])  # noqa: E731
    assert rank_metrics_from_scores(moved_users, user_only(heldout), user_only(exclude), k=k) == pytest.approx(
        rank_metrics_from_scores(tied, heldout, exclude, k=k), abs=1e-12)


@pytest.mark.parametrize("kwargs, words", [
    (dict(exclude=torch.tensor([[0], [1]])), ["(user 0, item 1) is also in exclude"]),
    (dict(heldout=torch.tensor([[0, 0], [1, 1]])), ["(user 0, item 1) twice"]),
    (dict(heldout=torch.tensor([[0], [5]])), ["heldout", "item 5 out of range 0..4"]),
    (dict(heldout=torch.tensor([[4], [0]])), ["heldout", "user 4 out of range 0..3"]),
    (dict(exclude=torch.tensor([[-1], [0]])), ["exclude", "user -1"]),
    (dict(heldout=torch.zeros(2, 0, dtype=torch.long)), ["heldout is empty"]),
    (dict(heldout=torch.tensor([[0.0], [1.0]])), ["heldout", "integer", "float32"]),
    (dict(heldout=torch.tensor([0, 1])), ["heldout", "[2, N]"]),
    (dict(k=0), ["k must be a positive integer"]),
    (dict(k=2.0), ["k must be a positive integer"]),
    (dict(batch_size=0), ["batch_size"]),
    (dict(user_emb=torch.tensor([[float("nan"), 0.0]] * 4)), ["user_emb row 0", "NaN"]),
    (dict(item_emb=torch.ones(5, 3)), ["width 2", "width 3"]),
    (dict(item_emb=torch.ones(5, dtype=torch.long)), ["item_emb must be a 2-D float tensor"]),
])
def test_errors(kwargs, words):
    args = dict(user_emb=USERS, item_emb=ITEMS, heldout=HELDOUT, exclude=None, k=2, batch_size=2)
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        rank_metrics(**args)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_scores_must_be_finite():
    scores = USERS @ ITEMS.T
    scores[1, 2] = -math.inf
    with pytest.raises(InputError, match="scores row 1 holds NaN or inf.*exclude"):
        rank_metrics_from_scores(scores, HELDOUT)


# ----------------------------------------------------------------------------------------------------------------------
# Fuzz: arbitrary (often invalid) inputs give a correct result or a one-line InputError naming the problem
# ----------------------------------------------------------------------------------------------------------------------
@st.composite
def any_inputs(draw):
    user_emb, item_emb, heldout, exclude, k = draw(ranking_cases())
    broken = draw(st.sampled_from(["none", "overlap", "range", "nan", "width", "k", "dtype", "duplicate", "empty"]))
    if broken == "overlap" and exclude.shape[1] == 0:
        broken = "none"
    if broken == "overlap":
        exclude = torch.cat([exclude, heldout[:, :1]], 1)
    elif broken == "range":
        heldout = heldout.clone()
        heldout[draw(st.integers(0, 1)), 0] = draw(st.sampled_from([-1, 99]))
    elif broken == "nan":
        user_emb = user_emb.clone()
        user_emb[0, 0] = draw(st.sampled_from([math.nan, math.inf]))
    elif broken == "width":
        item_emb = torch.cat([item_emb, item_emb[:, :1]], 1)
    elif broken == "k":
        k = draw(st.sampled_from([0, -3, 1.5, True]))
    elif broken == "dtype":
        heldout = heldout.float()
    elif broken == "duplicate":
        heldout = torch.cat([heldout, heldout[:, :1]], 1)
    elif broken == "empty":
        heldout = heldout[:, :0]
    return broken, user_emb, item_emb, heldout, exclude, k


_WORDS = {"overlap": ["also in exclude"], "range": ["out of range"], "nan": ["NaN or inf"], "width": ["width"],
          "k": ["k must be"], "dtype": ["integer"], "duplicate": ["twice"], "empty": ["empty"]}


@settings(max_examples=1600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(any_inputs(), st.integers(1, 3))
def test_fuzz_rank_metrics(inputs, batch_size):
    """Both entry points on each case (scores = user_emb @ item_emb.T where the widths allow a product)."""
    broken, user_emb, item_emb, heldout, exclude, k = inputs
    calls = {"rank_metrics": lambda: rank_metrics(user_emb, item_emb, heldout, exclude, k=k, batch_size=batch_size)}
    if broken != "width":
        scores = user_emb @ item_emb.T
        calls["rank_metrics_from_scores"] = lambda: rank_metrics_from_scores(scores, heldout, exclude, k=k,
                                                                             batch_size=batch_size)
    for name, call in calls.items():
        result, err = run_case(call)
        case = f"{name}, {broken}: heldout {heldout.tolist()} exclude {exclude.tolist()} k {k}"
        if broken == "none":
            expect_result(err, case)
            expected = _reference(user_emb @ item_emb.T, heldout, exclude, k)
            assert result == pytest.approx(expected, abs=1e-12), case
        else:
            expect_error(err, _WORDS[broken], case)
