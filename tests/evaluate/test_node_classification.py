"""Micro-F1 / Macro-F1 / accuracy / AUC: a hand-computed 3-class case, perfect and inverted predictions, errors."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphgen.errors import InputError
from graphgen.evaluate import classification_metrics
from tests.fuzz import expect_error, expect_result, run_case

# 6 nodes, 3 classes; predictions (argmax) 0, 0, 1, 2, 2, 0 against labels 0, 0, 1, 1, 2, 2
LOGITS = torch.tensor([[3.0, 1.0, 0.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 1.0, 2.0], [1.0, 0.0, 3.0],
                       [2.0, 1.0, 0.0]])
LABELS = torch.tensor([0, 0, 1, 1, 2, 2])


def _auc(positive: list[float], negative: list[float]) -> float:
    """P(score of a random positive > a random negative), ties counted half (the Mann-Whitney form of ROC AUC)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def test_hand_computed_three_classes():
    got = classification_metrics(LOGITS, LABELS)
    # class 0: tp 2, fp 1 (node 5), fn 0 -> F1 2*2/(2*2+1+0) = 0.8; class 1: tp 1, fp 0, fn 1 -> 2/3;
    # class 2: tp 1, fp 1, fn 1 -> 0.5. Micro-F1 = accuracy = 4 / 6.
    assert got["accuracy"] == pytest.approx(4 / 6) and got["micro_f1"] == pytest.approx(4 / 6)
    assert got["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 0.5) / 3)
    # AUC by hand: softmax depends on the logits as a multiset per class position, so e.g. nodes 1 ([2, 0, 1]) and 5
    # ([2, 1, 0]) have the same class-0 probability. Class 0: positives 0 (0.844), 1 (0.665) vs negatives 2, 3
    # (0.090), 4 (0.114), 5 (0.665): 4 + 3.5 wins of 8 = 0.9375. Class 1: positives 2 (0.665), 3 (0.245) vs
    # 0 (0.119), 1 (0.090), 4 (0.042), 5 (0.245): 4 + 3.5 = 0.9375. Class 2: positives 4 (0.844), 5 (0.090) vs
    # 0 (0.044), 1 (0.245), 2 (0.245), 3 (0.665): 4 + 1 = 0.625. Macro one-vs-rest: 2.5 / 3.
    assert got["auc"] == pytest.approx(2.5 / 3)
    probs = torch.softmax(LOGITS.double(), 1)
    per_class = [_auc([float(probs[i, c]) for i in range(6) if LABELS[i] == c],
                      [float(probs[i, c]) for i in range(6) if LABELS[i] != c]) for c in range(3)]
    assert per_class == pytest.approx([0.9375, 0.9375, 0.625])


def test_perfect_and_inverted_predictions():
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    perfect = torch.nn.functional.one_hot(y, 4).float() * 5
    assert classification_metrics(perfect, y) == {"micro_f1": 1.0, "macro_f1": 1.0, "accuracy": 1.0, "auc": 1.0}
    inverted = -perfect  # the true class gets the lowest score: never predicted, ranked last by every class column
    got = classification_metrics(inverted, y)
    assert got["accuracy"] == 0.0 and got["micro_f1"] == 0.0 and got["macro_f1"] == 0.0 and got["auc"] == 0.0


def test_two_classes_is_the_binary_auc():
    logits = torch.tensor([[0.0, 1.0], [0.0, -1.0], [0.0, 0.5], [0.0, 2.0]])
    y = torch.tensor([1, 0, 0, 1])
    got = classification_metrics(logits, y)
    assert got["auc"] == 1.0 and got["accuracy"] == pytest.approx(3 / 4)


def test_permuting_nodes_changes_nothing():
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    assert classification_metrics(LOGITS[order], LABELS[order]) == pytest.approx(classification_metrics(LOGITS, LABELS))


@pytest.mark.parametrize("logits, y, words", [
    (LOGITS, LABELS[:5], ["6 rows", "5 labels"]),
    (LOGITS[:, :1], torch.zeros(6, dtype=torch.long), ["1 class column"]),
    (torch.where(torch.eye(6, 3) > 0, math.nan, LOGITS), LABELS, ["logits row 0", "NaN"]),
    (LOGITS, torch.tensor([0, 0, 1, 1, 2, 3]), ["y[5] = 3", "0..2"]),
    (LOGITS, torch.tensor([0, 0, 1, 1, 0, 0]), ["class 2 does not occur in y", "AUC"]),
    (LOGITS, LABELS.float(), ["y must be a 1-D integer tensor"]),
    (LOGITS.long(), LABELS, ["logits must be a 2-D float tensor"]),
    (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), ["empty"]),
])
def test_errors(logits, y, words):
    with pytest.raises(InputError) as info:
        classification_metrics(logits, y)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


# ----------------------------------------------------------------------------------------------------------------------
# Fuzz: a result that agrees with plain-Python definitions, or a one-line InputError naming the problem
# ----------------------------------------------------------------------------------------------------------------------
@st.composite
def cases(draw):
    num_classes = draw(st.integers(2, 4))
    y = draw(st.lists(st.integers(0, num_classes - 1), min_size=1, max_size=12))
    logits = draw(st.lists(st.lists(st.integers(-3, 3).map(float), min_size=num_classes, max_size=num_classes),
                           min_size=len(y), max_size=len(y)))
    broken = draw(st.sampled_from(["none", "none", "nan", "label", "rows"]))
    logits, y = torch.tensor(logits), torch.tensor(y)
    if broken == "nan":
        logits[draw(st.integers(0, len(y) - 1)), 0] = math.nan
    elif broken == "label":
        y[draw(st.integers(0, len(y) - 1))] = draw(st.sampled_from([-1, num_classes]))
    elif broken == "rows":
        y = y[1:]
    return broken, logits, y


def _plain(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    num_classes = logits.shape[1]
    pred = [max(range(num_classes), key=lambda c, row=row: (row[c], -c)) for row in logits.tolist()]
    truth = y.tolist()
    f1s = []
    for c in range(num_classes):
        tp = sum(p == c == t for p, t in zip(pred, truth))
        fp = sum(p == c != t for p, t in zip(pred, truth))
        fn = sum(t == c != p for p, t in zip(pred, truth))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    probs = torch.softmax(logits.double(), 1)
    aucs = [_auc([float(probs[i, c]) for i in range(len(truth)) if truth[i] == c],
                 [float(probs[i, c]) for i in range(len(truth)) if truth[i] != c]) for c in range(num_classes)]
    accuracy = sum(p == t for p, t in zip(pred, truth)) / len(truth)
    auc = aucs[1] if num_classes == 2 else sum(aucs) / num_classes
    return {"micro_f1": accuracy, "macro_f1": sum(f1s) / num_classes, "accuracy": accuracy, "auc": auc}


_WORDS = {"nan": ["NaN"], "label": ["outside the classes"], "rows": ["rows", "labels", "empty"],
          "missing": ["does not occur in y"]}


@settings(max_examples=2000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fuzz_classification_metrics(case):
    broken, logits, y = case
    result, err = run_case(lambda: classification_metrics(logits, y))
    description = f"{broken}: logits {logits.tolist()} y {y.tolist()}"
    if broken == "none" and len(set(y.tolist())) < logits.shape[1]:
        broken = "missing"  # a valid-looking case where a class is absent: AUC undefined, must be named
    if broken == "none":
        expect_result(err, description)
        assert result == pytest.approx(_plain(logits, y), abs=1e-9), description
    else:
        expect_error(err, _WORDS[broken], description)
