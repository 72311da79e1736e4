"""Node-classification metrics as DiffGraph_NC reports them: Micro-F1, Macro-F1, accuracy and AUC.

* Predictions are ``argmax`` of the logits; among equal maxima the lowest class index wins (``torch.argmax``).
* F1 via ``sklearn.metrics.f1_score`` over the classes ``0..C-1``: ``average="micro"`` (equal to accuracy for
  single-label data) and ``average="macro"`` (unweighted mean over classes; a class never predicted has F1 0, without
  sklearn's warning).
* AUC: macro one-vs-rest ``sklearn.metrics.roc_auc_score(y, softmax(logits), multi_class="ovr")`` as DiffGraph's
  ``main.py`` (for C = 2 the binary AUC of class 1's probability, which is what one-vs-rest reduces to). Every class
  must occur in ``y``: its one-vs-rest AUC is undefined otherwise, and the error names the class.

All values are fractions in [0, 1] (DiffGraph prints them x 100).
"""
from __future__ import annotations

import torch
from torch import Tensor

from graphgen.errors import InputError


def classification_metrics(logits: Tensor, y: Tensor) -> dict[str, float]:
    """``{"micro_f1", "macro_f1", "accuracy", "auc"}`` of ``logits`` float [N, C] (C >= 2) against ``y`` long [N]
    with labels in ``0..C-1`` (each class at least once)."""
    _check_inputs(logits, y)
    from sklearn.metrics import f1_score, roc_auc_score  # imported here: sklearn is slow to import

    num_classes = logits.shape[1]
    truth = y.detach().cpu().to(torch.int64).numpy()
    logits64 = logits.detach().cpu().to(torch.float64)
    predicted = logits64.argmax(dim=1).numpy()
    probabilities = torch.softmax(logits64, dim=1).numpy()  # float64: sklearn checks that rows sum to 1
    classes = list(range(num_classes))
    scores = probabilities[:, 1] if num_classes == 2 else probabilities  # sklearn's binary form
    return {
        "micro_f1": float(f1_score(truth, predicted, labels=classes, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)),
        "accuracy": float((predicted == truth).mean()),
        "auc": float(roc_auc_score(truth, scores, multi_class="ovr", labels=classes)
                     if num_classes > 2 else roc_auc_score(truth, scores)),
    }


def _check_inputs(logits: object, y: object) -> None:
    if not isinstance(logits, Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        described = f"{logits.dtype} {tuple(logits.shape)}" if isinstance(logits, Tensor) else type(logits).__name__
        raise InputError(f"logits must be a 2-D float tensor [N, C], got {described}")
    if not isinstance(y, Tensor) or y.dim() != 1 or y.dtype.is_floating_point or y.dtype.is_complex \
            or y.dtype == torch.bool:
        described = f"{y.dtype} {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
        raise InputError(f"y must be a 1-D integer tensor of class labels [N], got {described}")
    num_nodes, num_classes = logits.shape
    if y.shape[0] != num_nodes:
        raise InputError(f"logits has {num_nodes} rows but y has {y.shape[0]} labels; one label per row")
    if num_nodes == 0:
        raise InputError("logits and y are empty: there is nothing to score")
    if num_classes < 2:
        raise InputError(f"logits has {num_classes} class column(s); classification needs at least 2")
    if not torch.isfinite(logits).all():
        row = int(torch.nonzero(~torch.isfinite(logits))[0, 0])
        raise InputError(f"logits row {row} holds NaN or inf; logits must be finite")
    outside = (y < 0) | (y >= num_classes)
    if outside.any():
        at = int(torch.nonzero(outside)[0, 0])
        raise InputError(f"y[{at}] = {int(y[at])} is outside the classes 0..{num_classes - 1} of logits")
    present = torch.bincount(y.to(torch.int64), minlength=num_classes)
    if (present == 0).any():
        missing = int(torch.nonzero(present == 0)[0, 0])
        raise InputError(f"class {missing} does not occur in y, so its one-vs-rest AUC is undefined; evaluate on "
                         "nodes that cover every class")
