"""Top-K recommendation metrics with full ranking: Recall@K and NDCG@K as DiffGraph reports them.

Each user with at least one held-out item ranks ALL items by score (inner product of user and item embeddings),
except the items ``exclude`` lists for that user (its training interactions), which are never ranked. With ``rank``
the 0-based position of a held-out item in that list, a hit is ``rank < K``, and per user

* Recall@K = hits / |held-out items of the user|,
* NDCG@K = DCG / IDCG with DCG = sum over hits of 1 / log2(rank + 2) and IDCG the DCG of min(|held-out|, K) hits at
  positions 0, 1, ... (DiffGraph-Rec ``main.py`` ``calcRes``: ``maxDcg`` over ``range(min(tstNum, topk))``).

Both are averaged over the users that have a held-out item (DiffGraph divides by its number of test users).

Ties: items with equal scores are ordered by item index, lower first (a stable descending sort), so a result never
depends on the order a top-k routine happens to return. Scores are computed in float64, so splitting users into
batches does not move near-ties (a batch of ``batch_size`` users holds ``batch_size x num_items`` float64 scores:
1024 x 30113 is about 250 MB).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from graphgen.errors import InputError

# held-out pairs ranked at once: each holds one row of scores in a comparison temporary (128 x 30113 float64: 31 MB)
_PAIR_CHUNK = 128


# ----------------------------------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------------------------------
def rank_metrics(user_emb: Tensor, item_emb: Tensor, heldout: Tensor, exclude: Tensor | None = None, k: int = 20,
                 batch_size: int = 1024) -> dict[str, float]:
    """Recall@K and NDCG@K of inner-product scores ``user_emb @ item_emb.T``, full ranking over all items.

    Args:
        user_emb: float [U, D] user embeddings.
        item_emb: float [I, D] item embeddings.
        heldout: long [2, N] held-out (user, item) pairs, each at most once.
        exclude: long [2, M] (user, item) pairs never ranked (training interactions), or ``None``; a held-out pair
            that is also excluded is an :class:`InputError` (it could never be found).
        k: list length K (>= 1; larger than the number of items is allowed: every held-out item is then a hit).
        batch_size: users scored at once (memory only; the result does not depend on it).

    Returns:
        ``{f"recall@{k}", f"ndcg@{k}", "num_users"}``: means over the users with a held-out item, and their number.
    """
    _check_embedding(user_emb, "user_emb")
    _check_embedding(item_emb, "item_emb")
    if user_emb.shape[1] != item_emb.shape[1]:
        raise InputError(f"user_emb has width {user_emb.shape[1]} but item_emb has width {item_emb.shape[1]}; "
                         "scores are inner products, so both need the same embedding width")
    items64 = item_emb.detach().to(torch.float64)

    def scores_of(users: Tensor) -> Tensor:
        return user_emb.detach()[users].to(torch.float64) @ items64.T  # [B, I]

    return _rank_metrics(scores_of, user_emb.shape[0], item_emb.shape[0], heldout, exclude, k, batch_size)


def rank_metrics_from_scores(scores: Tensor, heldout: Tensor, exclude: Tensor | None = None, k: int = 20,
                             batch_size: int = 1024) -> dict[str, float]:
    """:func:`rank_metrics` on a given score matrix ``scores`` float [U, I] (finite; higher ranks first)."""
    _check_embedding(scores, "scores")
    scores64 = scores.detach().to(torch.float64)
    return _rank_metrics(lambda users: scores64[users], scores.shape[0], scores.shape[1], heldout, exclude, k,
                         batch_size)


# ----------------------------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------------------------
def _check_embedding(x: object, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
        described = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"{name} must be a 2-D float tensor, got {described}")
    if x.shape[1] == 0 and name != "scores":
        raise InputError(f"{name} has width 0; embeddings need at least one dimension")
    if x.numel() and not torch.isfinite(x).all():
        row = int(torch.nonzero(~torch.isfinite(x))[0, 0])
        raise InputError(f"{name} row {row} holds NaN or inf; scores must be finite (use `exclude` to leave items "
                         "out of the ranking)")


def _check_pairs(pairs: object, name: str, num_users: int, num_items: int) -> Tensor:
    if not isinstance(pairs, Tensor) or pairs.dim() != 2 or pairs.shape[0] != 2:
        described = tuple(pairs.shape) if isinstance(pairs, Tensor) else type(pairs).__name__
        raise InputError(f"{name} must be a long tensor [2, N] of (user, item) pairs, got {described}")
    if pairs.dtype.is_floating_point or pairs.dtype.is_complex or pairs.dtype == torch.bool:
        raise InputError(f"{name} must hold integer (user, item) indices, got dtype {pairs.dtype}")
    pairs = pairs.to(torch.int64)
    for row, what, size in ((0, "user", num_users), (1, "item", num_items)):
        bad = (pairs[row] < 0) | (pairs[row] >= size)
        if bad.any():
            at = int(torch.nonzero(bad)[0, 0])
            raise InputError(f"{name} column {at}: {what} {int(pairs[row, at])} out of range 0..{size - 1}")
    return pairs


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def _pair_keys(pairs: Tensor, num_items: int) -> Tensor:
    return pairs[0] * num_items + pairs[1]


# ----------------------------------------------------------------------------------------------------------------------
# Computation
# ----------------------------------------------------------------------------------------------------------------------
def _rank_metrics(scores_of: Callable[[Tensor], Tensor], num_users: int, num_items: int, heldout: Tensor,
                  exclude: Tensor | None, k: int, batch_size: int) -> dict[str, float]:
    k, batch_size = _check_int(k, "k"), _check_int(batch_size, "batch_size")
    if num_items == 0:
        raise InputError("there are no items to rank (item_emb / scores has 0 rows or columns)")
    heldout = _check_pairs(heldout, "heldout", num_users, num_items)
    if heldout.shape[1] == 0:
        raise InputError("heldout is empty: the metrics average over users with a held-out item, and there is none")
    exclude = (torch.zeros(2, 0, dtype=torch.int64) if exclude is None
               else _check_pairs(exclude, "exclude", num_users, num_items))
    held_keys = _pair_keys(heldout, num_items)
    unique_held_keys, counts = torch.unique(held_keys, return_counts=True)
    if (counts > 1).any():
        key = int(unique_held_keys[counts > 1][0])
        raise InputError(f"heldout lists (user {key // num_items}, item {key % num_items}) twice; each held-out pair "
                         "counts once")
    excluded_and_held = torch.isin(held_keys, _pair_keys(exclude, num_items))
    if excluded_and_held.any():
        at = int(torch.nonzero(excluded_and_held)[0, 0])
        raise InputError(f"heldout pair (user {int(heldout[0, at])}, item {int(heldout[1, at])}) is also in exclude, "
                         "so it could never be ranked; remove it from one of them")

    users = torch.unique(heldout[0])  # the users the means run over
    # per-user values, summed once at the end: the same additions in the same order for every batch_size
    recall, ndcg = torch.empty(len(users), dtype=torch.float64), torch.empty(len(users), dtype=torch.float64)
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        recall[start:start + len(batch)], ndcg[start:start + len(batch)] = _per_user(
            scores_of(batch), batch, heldout, exclude, k, num_users)
    return {f"recall@{k}": float(recall.mean()), f"ndcg@{k}": float(ndcg.mean()), "num_users": len(users)}


def _per_user(scores: Tensor, batch: Tensor, heldout: Tensor, exclude: Tensor, k: int,
              num_users: int) -> tuple[Tensor, Tensor]:
    """Recall and NDCG float64 [B] of the users ``batch`` whose score rows are ``scores`` [B, I]."""
    row_of_user = torch.full((num_users,), -1, dtype=torch.int64)
    row_of_user[batch] = torch.arange(len(batch))
    scores = scores.clone()
    ex_rows = row_of_user[exclude[0]]
    in_batch = ex_rows >= 0
    scores[ex_rows[in_batch], exclude[1][in_batch]] = -math.inf  # below every finite score: never ahead of an item

    held_rows = row_of_user[heldout[0]]
    in_batch = held_rows >= 0
    rows, items = held_rows[in_batch], heldout[1][in_batch]
    ranks = _ranks(scores, rows, items)

    discounts = 1.0 / torch.log2(torch.arange(k, dtype=torch.float64) + 2.0)  # 1 / log2(rank + 2), rank 0..k-1
    hit = ranks < k
    gain = torch.where(hit, discounts[ranks.clamp(max=k - 1)], torch.zeros((), dtype=torch.float64))
    hits_per_user = torch.zeros(len(batch), dtype=torch.float64).index_add_(0, rows, hit.to(torch.float64))
    dcg_per_user = torch.zeros(len(batch), dtype=torch.float64).index_add_(0, rows, gain)
    heldout_per_user = torch.bincount(rows, minlength=len(batch))
    ideal = torch.cumsum(discounts, 0)[heldout_per_user.clamp(max=k) - 1]  # IDCG over min(|held-out|, K) hits
    return hits_per_user / heldout_per_user, dcg_per_user / ideal


def _ranks(scores: Tensor, rows: Tensor, items: Tensor) -> Tensor:
    """0-based rank of ``items[j]`` in row ``rows[j]`` of ``scores``: items scored higher, or equal with a lower
    index, come first (a stable descending sort)."""
    item_ids = torch.arange(scores.shape[1])
    ranks = torch.empty(len(rows), dtype=torch.int64)
    for start in range(0, len(rows), _PAIR_CHUNK):
        r, it = rows[start:start + _PAIR_CHUNK], items[start:start + _PAIR_CHUNK]
        row_scores = scores[r]  # [c, I]
        own = row_scores.gather(1, it[:, None])  # [c, 1]
        ahead = (row_scores > own) | ((row_scores == own) & (item_ids[None, :] < it[:, None]))
        ranks[start:start + _PAIR_CHUNK] = ahead.sum(1)
    return ranks
