"""Single-graph heterogeneous datasets (retail_rocket, aminer): real counts, the validation carve on hand-built files,
split checks, and the errors for damaged or inconsistent raw files."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphgen.data.datasets.hetero import AMinerSpec, RetailRocketSpec, carve_validation
from graphgen.data.raw import ChecksumMismatchError, RawFile
from graphgen.data.registry import DATASETS, default_split, load_dataset
from graphgen.errors import InputError


def _pairs(index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, index.T.tolist()))


def _is_sorted_by_pair(index: torch.Tensor, width: int) -> bool:
    keys = index[0] * width + index[1]
    return bool((keys[1:] > keys[:-1]).all())


# ----------------------------------------------------------------------------------------------------------------------
# Real files
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retail(shared_data) -> HeteroData:
    return load_dataset("retail_rocket", data_dir=shared_data)


@pytest.fixture(scope="module")
def aminer(shared_data) -> HeteroData:
    return load_dataset("aminer", data_dir=shared_data)


def test_retail_rocket_counts(retail):
    assert isinstance(retail, HeteroData)
    assert retail["user"].num_nodes == 2174 and retail["item"].num_nodes == 30113
    assert retail.behaviours == ["view", "cart", "buy"]
    val_keys = set((retail["user", "buy", "item"].val_pairs[0] * 30113 + retail["user", "buy", "item"].val_pairs[1])
                   .tolist())
    for behaviour, nnz, held in (("view", 75374, 717), ("cart", 12456, 802)):
        store = retail["user", behaviour, "item"]
        # the views / carts of validation pairs are held out (the files hold none for test pairs); none is lost
        assert store.edge_index.shape == (2, nnz - held) and store.val_edge_index.shape == (2, held)
        assert store.edge_index.dtype == torch.long and store.time.dtype == torch.int64
        assert store.time.shape == (nnz - held,) and store.val_time.shape == (held,)
        assert set((store.val_edge_index[0] * 30113 + store.val_edge_index[1]).tolist()) <= val_keys
        assert not set((store.edge_index[0] * 30113 + store.edge_index[1]).tolist()) & val_keys
        test = retail["user", "buy", "item"].test_pairs
        assert not set((test[0] * 30113 + test[1]).tolist()) & set((store.edge_index[0] * 30113
                                                                     + store.edge_index[1]).tolist())
        assert int(store.time.min()) >= 1430623510 and int(store.time.max()) <= 1442544701  # FORMAT.md's range
        assert _is_sorted_by_pair(store.edge_index, 30113)
    buy = retail["user", "buy", "item"]
    assert buy.edge_index.shape[1] + buy.val_pairs.shape[1] == 9551  # nnz of train_mat_buy before carving
    assert buy.test_pairs.shape == (2, 2174) and buy.test_pairs.dtype == torch.long
    assert sorted(buy.test_pairs[0].tolist()) == list(range(2174))  # one held-out purchase per user
    assert _is_sorted_by_pair(buy.edge_index, 30113) and buy.time.shape == (buy.edge_index.shape[1],)


def test_retail_rocket_carve_against_the_raw_matrix(retail, shared_data):
    raw = sp.load_npz(shared_data / "hetero/retail_rocket/train_mat_buy.npz").tocsr()
    buy = retail["user", "buy", "item"]
    per_user = np.diff(raw.indptr)
    assert buy.val_pairs.shape[1] == int((per_user >= 2).sum()) == retail.num_val_users
    for user, item in buy.val_pairs.T.tolist():  # the latest purchase; ties -> the largest item id
        items = raw.indices[raw.indptr[user]:raw.indptr[user + 1]]
        times = raw.data[raw.indptr[user]:raw.indptr[user + 1]]
        assert item == max(items[times == times.max()])
    original = set(zip(*raw.nonzero()))
    fit, val = _pairs(buy.edge_index), _pairs(buy.val_pairs)
    assert not fit & val and fit | val == original  # no pair lost or duplicated
    assert {u for u, _ in fit} == set(range(2174))  # every user keeps a training purchase
    test = _pairs(buy.test_pairs)
    assert not test & fit and not test & val
    rows, cols = raw.nonzero()
    raw_time = dict(zip(zip(rows.tolist(), cols.tolist()), np.asarray(raw[rows, cols]).ravel().tolist()))
    assert [raw_time[pair] for pair in map(tuple, buy.edge_index.T.tolist())] == buy.time.tolist()


def test_aminer_counts_and_splits(aminer):
    assert isinstance(aminer, HeteroData)
    sizes = {t: aminer[t].num_nodes for t in ("paper", "author", "reference")}
    assert sizes == {"paper": 6564, "author": 13329, "reference": 35890}
    y = aminer["paper"].y
    assert y.dtype == torch.long and torch.bincount(y).tolist() == [1333, 1114, 526, 3591]
    edges = {t[1]: aminer[t].edge_index.shape[1] for t in aminer.edge_types}
    assert edges == {"written_by": 18007, "cites": 58831, "pap": 21976, "prp": 129824, "pos": 67730}
    assert int(aminer["paper", "written_by", "author"].edge_index[1].max()) == 13328
    assert int(aminer["paper", "cites", "reference"].edge_index[1].max()) == 35889
    for name in ("pap", "prp", "pos"):
        index = aminer["paper", name, "paper"].edge_index
        assert _pairs(torch.arange(6564).repeat(2, 1)) <= _pairs(index)  # diagonal kept
        assert _is_sorted_by_pair(index, 6564)
    for name in ("pap", "prp"):
        index = aminer["paper", name, "paper"].edge_index
        assert _pairs(index) == _pairs(index.flip(0))
    assert aminer.label_rates == [20, 40, 60] and aminer.num_classes == 4
    for rate in (20, 40, 60):
        train, val, test = (aminer["paper"][f"{part}_idx_{rate}"] for part in ("train", "val", "test"))
        assert train.dtype == torch.long and (len(train), len(val), len(test)) == (4 * rate, 1000, 1000)
        assert torch.bincount(y[train], minlength=4).tolist() == [rate] * 4
        assert not set(train.tolist()) & set(val.tolist()) and not set(val.tolist()) & set(test.tolist())
        assert not set(train.tolist()) & set(test.tolist())


def test_split_rules(shared_data):
    assert default_split(DATASETS["aminer"]) == "all" and default_split(DATASETS["qm9"]) == "train"
    assert isinstance(load_dataset("aminer", "all", data_dir=shared_data), HeteroData)
    for split in ("train", "test", "val"):
        with pytest.raises(InputError, match="split must be 'all'"):
            load_dataset("retail_rocket", split, data_dir=shared_data)
    assert len(load_dataset("comm20", data_dir=shared_data)) == 64  # graph sets still default to "train"


def test_corrupted_real_file_is_named(shared_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(shared_data / "hetero/retail_rocket", root / "hetero/retail_rocket")
    target = root / "hetero/retail_rocket/test_mat.npz"
    target.chmod(0o644)
    blob = bytearray(target.read_bytes())
    blob[100] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(ChecksumMismatchError, match=r"checksum mismatch for .*test_mat\.npz"):
        load_dataset("retail_rocket", data_dir=root)


# ----------------------------------------------------------------------------------------------------------------------
# Hand-built Retail Rocket: 3 users x 5 items
# ----------------------------------------------------------------------------------------------------------------------
_RR_FILES = {"view": "train_mat_view.npz", "cart": "train_mat_cart.npz", "buy": "train_mat_buy.npz",
             "test": "test_mat.npz"}


def _write_tiny_retail(root: Path, mats: dict[str, sp.spmatrix]) -> RetailRocketSpec:
    """Write ``mats`` (role -> matrix) under ``root`` and return a spec whose sha256s are those of the new files."""
    folder = root / "hetero" / "rr"
    folder.mkdir(parents=True, exist_ok=True)
    raw = {}
    for role, matrix in mats.items():
        path = folder / _RR_FILES[role]
        sp.save_npz(path, sp.csr_matrix(matrix))
        raw[role] = RawFile(f"hetero/rr/{_RR_FILES[role]}", hashlib.sha256(path.read_bytes()).hexdigest(),
                            "https://example.org/rr")
    return RetailRocketSpec(name="tiny_rr", raw=raw, splits=("all",), num_users=3, num_items=5)


def _tiny_retail_mats() -> dict[str, np.ndarray]:
    buy = np.zeros((3, 5), dtype=np.int64)
    buy[0, 1], buy[0, 3] = 10, 20          # user 0: item 3 is the latest -> validation
    buy[1, 2] = 15                         # user 1: one purchase, kept
    buy[2, 0], buy[2, 4], buy[2, 2] = 5, 7, 7  # user 2: tie at t=7 -> the larger item, 4
    view = np.zeros((3, 5), dtype=np.int64)
    view[0, 0], view[0, 3], view[2, 1] = 3, 4, 6
    cart = np.zeros((3, 5), dtype=np.int64)
    cart[1, 2] = 14
    test = np.zeros((3, 5))
    test[0, 0], test[1, 4], test[2, 1] = 1.0, 1.0, 1.0
    return {"view": view, "cart": cart, "buy": buy, "test": test}


def test_tiny_retail_carve_by_hand(tmp_path):
    spec = _write_tiny_retail(tmp_path, {k: sp.csr_matrix(v) for k, v in _tiny_retail_mats().items()})
    data = spec.load(data_dir=tmp_path)
    buy = data["user", "buy", "item"]
    assert buy.edge_index.tolist() == [[0, 1, 2, 2], [1, 2, 0, 2]]
    assert buy.time.tolist() == [10, 15, 5, 7]
    assert buy.val_pairs.tolist() == [[0, 2], [3, 4]]
    assert buy.test_pairs.tolist() == [[0, 1, 2], [0, 4, 1]]
    # user 0 viewed item 3 (a validation purchase) at t=4: that view is held out like a test pair's would be
    assert data["user", "view", "item"].edge_index.tolist() == [[0, 2], [0, 1]]
    assert data["user", "view", "item"].time.tolist() == [3, 6]
    assert data["user", "view", "item"].val_edge_index.tolist() == [[0], [3]]
    assert data["user", "view", "item"].val_time.tolist() == [4]
    assert data["user", "cart", "item"].edge_index.tolist() == [[1], [2]]
    assert data["user", "cart", "item"].val_edge_index.shape == (2, 0)
    assert data.num_val_users == 2 and spec.counts(data)["val purchases (carved)"] == 2
    with pytest.raises(InputError, match="split must be 'all'"):
        spec.load("train", data_dir=tmp_path)


def test_carve_validation_properties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(0, 40))
        users, items = rng.integers(0, 6, n), rng.integers(0, 8, n)
        keys = np.unique(users * 8 + items)
        users, items = keys // 8, keys % 8
        time = rng.integers(1, 4, len(keys))  # few values: many ties
        fit, val = carve_validation(np.stack([users, items]), time)
        assert (fit ^ val).all()
        for u in np.unique(users):
            mine = users == u
            if mine.sum() < 2:
                assert not val[mine].any()
                continue
            assert val[mine].sum() == 1
            latest = (time == time[mine].max()) & mine
            assert items[val & mine][0] == items[latest].max()


@pytest.mark.parametrize("case, change, words", [
    ("shape", lambda m: m.update(cart=np.zeros((3, 6), dtype=np.int64)), ["train_mat_cart.npz", "shape (3, 6)"]),
    ("rows", lambda m: m.update({k: v[:2] for k, v in m.items()}), ["shape (2, 5)", "(3, 5)"]),
    ("test in train", lambda m: m["test"].__setitem__((1, 4), 0) or m["test"].__setitem__((1, 2), 1.0),
     ["test_mat.npz", "(user 1, item 2) is also a training purchase"]),
    ("negative time", lambda m: m["view"].__setitem__((1, 1), -5), ["train_mat_view.npz", "timestamp -5"]),
    ("float time", lambda m: m.update(view=m["view"].astype(np.float64)), ["train_mat_view.npz", "float64"]),
    ("two test rows", lambda m: m["test"].__setitem__((0, 2), 1.0), ["test_mat.npz", "user 0 has 2 test purchases"]),
])
def test_tiny_retail_errors(tmp_path, case, change, words):
    mats = _tiny_retail_mats()
    change(mats)
    spec = _write_tiny_retail(tmp_path, {k: sp.csr_matrix(v) for k, v in mats.items()})
    with pytest.raises(InputError) as info:
        spec.load(data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_tiny_retail_stored_zero_and_damaged_file(tmp_path):
    mats = {k: sp.csr_matrix(v) for k, v in _tiny_retail_mats().items()}
    view = mats["view"]
    view.data[0] = 0  # an explicitly stored zero: DiffGraph's "no interaction"
    spec = _write_tiny_retail(tmp_path, mats)
    with pytest.raises(InputError, match=r"train_mat_view\.npz: view timestamp 0 <= 0 stored for \(user 0, item 0\)"):
        spec.load(data_dir=tmp_path)
    spec = _write_tiny_retail(tmp_path, {k: sp.csr_matrix(v) for k, v in _tiny_retail_mats().items()})
    path = tmp_path / "hetero/rr/test_mat.npz"
    path.write_bytes(b"not a zip file")
    raw = dict(spec.raw, test=RawFile(spec.raw["test"].path, hashlib.sha256(b"not a zip file").hexdigest(), "x"))
    spec = RetailRocketSpec(name="tiny_rr", raw=raw, splits=("all",), num_users=3, num_items=5)
    with pytest.raises(InputError, match=r"test_mat\.npz: not a scipy\.sparse \.npz matrix"):
        spec.load(data_dir=tmp_path)


# ----------------------------------------------------------------------------------------------------------------------
# Hand-built AMiner: 8 papers, 2 classes, 3 authors, 4 references, label rate 1 and 2
# ----------------------------------------------------------------------------------------------------------------------
def _tiny_aminer_files() -> dict[str, object]:
    eye = np.eye(8, dtype=bool)
    pap = eye.copy()
    pap[0, 1] = pap[1, 0] = True
    pos = eye.copy()
    pos[2, 3] = True  # not symmetric, as HeCo's positives
    return {
        "labels.npy": np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        "pa.txt": "0\t0\n1\t0\n5\t2\n",
        "pr.txt": "7\t3\n0\t1\n",
        "pap.npz": sp.coo_matrix(pap), "prp.npz": sp.coo_matrix(eye), "pos.npz": sp.coo_matrix(pos.astype(float)),
        "train_1.npy": np.array([0, 4]), "val_1.npy": np.array([1, 5]), "test_1.npy": np.array([2, 6, 3]),
        "train_2.npy": np.array([0, 1, 4, 5]), "val_2.npy": np.array([2, 6]), "test_2.npy": np.array([3, 7]),
    }


def _write_tiny_aminer(root: Path, files: dict[str, object]) -> AMinerSpec:
    folder = root / "hetero" / "am"
    folder.mkdir(parents=True, exist_ok=True)
    raw = {}
    for name, content in files.items():
        path = folder / name
        if name.endswith(".txt"):
            path.write_text(content)
        elif name.endswith(".npz"):
            sp.save_npz(path, content)
        else:
            np.save(path, content)
        raw[name.rsplit(".", 1)[0]] = RawFile(f"hetero/am/{name}", hashlib.sha256(path.read_bytes()).hexdigest(),
                                              "https://example.org/am")
    return AMinerSpec(name="tiny_am", raw=raw, splits=("all",), num_papers=8, num_authors=3, num_references=4,
                      num_classes=2, label_rates=(1, 2))


def test_tiny_aminer_by_hand(tmp_path):
    data = _write_tiny_aminer(tmp_path, _tiny_aminer_files()).load(data_dir=tmp_path)
    assert data["paper", "written_by", "author"].edge_index.tolist() == [[0, 1, 5], [0, 0, 2]]
    assert data["paper", "cites", "reference"].edge_index.tolist() == [[0, 7], [1, 3]]  # sorted by paper
    assert data["paper", "pap", "paper"].edge_index.shape == (2, 10)
    assert _pairs(data["paper", "pos", "paper"].edge_index) == {(i, i) for i in range(8)} | {(2, 3)}
    assert data["paper"].train_idx_2.tolist() == [0, 1, 4, 5] and data["paper"].test_idx_1.tolist() == [2, 6, 3]
    assert data.label_rates == [1, 2] and data.num_classes == 2 and data["author"].num_nodes == 3


@pytest.mark.parametrize("name, content, words", [
    ("pa.txt", "0\t0\n1 x\n", ["pa.txt, line 2", "expected 'paper_id<TAB>author_id'"]),
    ("pa.txt", "0\t0\n\n1\t1\n", ["pa.txt, line 2"]),
    ("pa.txt", "0\t0\n1\t3\n", ["pa.txt, line 2", "author id 3 out of range"]),
    ("pr.txt", "8\t0\n", ["pr.txt, line 1", "paper id 8 out of range"]),
    ("pr.txt", "0\t1\n2\t2\n0\t1\n", ["pr.txt, line 3", "repeats line 1"]),
    ("labels.npy", np.array([0, 0, 0, 0, 1, 1, 1, 2]), ["labels.npy", "label 2"]),
    ("labels.npy", np.array([0, 1]), ["labels.npy", "2 labels"]),
    ("labels.npy", np.array([0.0] * 8), ["labels.npy", "integer"]),
    ("train_1.npy", np.array([4, 7]), ["train_1.npy", "[0, 2]", "1 of each class"]),
    ("val_2.npy", np.array([2, 0]), ["val_2.npy", "paper 0 is also in train_2.npy"]),
    ("test_1.npy", np.array([2, 9]), ["test_1.npy", "paper id 9 out of range"]),
    ("prp.npz", sp.coo_matrix(np.triu(np.ones((8, 8), dtype=bool))), ["prp.npz", "not symmetric"]),
    ("pap.npz", sp.coo_matrix(np.eye(7, dtype=bool)), ["pap.npz", "shape (7, 7)"]),
])
def test_tiny_aminer_errors(tmp_path, name, content, words):
    files = _tiny_aminer_files()
    files[name] = content
    spec = _write_tiny_aminer(tmp_path, files)
    with pytest.raises(InputError) as info:
        spec.load(data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_tiny_aminer_object_array_is_refused_not_unpickled(tmp_path):
    files = _tiny_aminer_files()
    spec = _write_tiny_aminer(tmp_path, files)
    path = tmp_path / "hetero/am/train_1.npy"
    np.save(path, np.array([0, "x"], dtype=object), allow_pickle=True)
    raw = dict(spec.raw, train_1=RawFile(spec.raw["train_1"].path, hashlib.sha256(path.read_bytes()).hexdigest(),
                                         "x"))
    spec = AMinerSpec(name="tiny_am", raw=raw, splits=("all",), num_papers=8, num_authors=3, num_references=4,
                      num_classes=2, label_rates=(1, 2))
    with pytest.raises(InputError, match=r"train_1\.npy: not a plain \.npy array"):
        spec.load(data_dir=tmp_path)
