"""Datasets: cache layout and rebuild, bad input, split conventions, equality with fresh conversions."""
from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from graphgen.data.datasets import base
from graphgen.data.datasets.generic import GDSSGraphSpec, edge_list_to_arrays
from graphgen.data.datasets.molecules import (
    QM9_TARGETS,
    ZINC12K_ATOM_TYPES,
    GDSSMoleculeSpec,
    SplitFilesMoleculeSpec,
    convert_ogb,
    convert_zinc12k,
    ogb_graph,
    zinc12k_atom_token,
)
from graphgen.data.molecules import VOCABS, smiles_to_data
from graphgen.data.raw import ChecksumMismatchError, MissingRawFileError, RawFile
from graphgen.data.registry import DATASETS, load_dataset


# ----------------------------------------------------------------------------------------------------------------------
# helpers: small doctored data roots
# ----------------------------------------------------------------------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_gz_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(buf.getvalue().encode())
    return path


TINY_SMILES = ["CCO", "C1CC", "c1ccccc1O", "C[Si](C)C", "N#CC(=O)F"]  # row 1: unclosed ring, row 3: Si not in qm9
TINY_TEST = [2, 4]


def tiny_spec(root: Path, smiles: list[str] = TINY_SMILES, version: int = 1) -> GDSSMoleculeSpec:
    """A 5-row QM9-like dataset (GDSS split) in ``root``, with RawFile checksums computed here."""
    csv_path = _write_gz_csv(root / "molecules" / "tiny.csv.gz", ["idx", "smiles"],
                             [[i, s] for i, s in enumerate(smiles)])
    idx_path = root / "molecules" / "tiny_test.json"
    idx_path.write_text(json.dumps({"valid_idxs": [f"{i:06d}" for i in TINY_TEST]}))
    return GDSSMoleculeSpec(
        name="tiny",
        raw={"smiles": RawFile("molecules/tiny.csv.gz", _sha(csv_path), "https://example.org/tiny.csv.gz"),
             "test_idx": RawFile("molecules/tiny_test.json", _sha(idx_path), "https://example.org/tiny_test.json",
                                 downloadable=True)},
        splits=("train", "test"),
        version=version,
        vocab=VOCABS["qm9"],
        smiles_column="smiles",
        test_index_key="valid_idxs",
    )


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("GRAPHGEN_CACHE", str(path))
    return path


def assert_data_equal(a, b) -> None:
    assert sorted(a.keys()) == sorted(b.keys())
    assert a.num_nodes == b.num_nodes
    for key in a.keys():
        if isinstance(a[key], torch.Tensor):
            assert a[key].dtype == b[key].dtype, key
            assert torch.equal(a[key], b[key]), key


# ----------------------------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------------------------
def test_bad_rows_are_skipped_counted_and_reported(tmp_path, cache):
    spec = tiny_spec(tmp_path / "data")
    with pytest.warns(UserWarning) as rec:
        train = spec.load("train", tmp_path / "data")
    msg = str(rec[0].message)
    assert "skipped 2 of 3 raw rows" in msg and "row 1:" in msg and "row 3:" in msg and "Si" in msg
    assert "graphgen data info tiny" in msg
    assert len(train) == 1 and train.smiles == ["CCO"]
    assert train.rows.tolist() == [0]
    sk = train.meta["skipped"]
    assert sk["count"] == 2 and sk["total"] == 3
    assert [r for r, _ in sk["rows"]] == [1, 3]
    assert "cannot parse" in sk["rows"][0][1] and "Si" in sk["rows"][1][1]
    # the test split (rows 2 and 4, GDSS int(i) 0-based) has no bad row and does not warn
    test = spec.load("test", tmp_path / "data")
    assert test.smiles == [TINY_SMILES[2], TINY_SMILES[4]]
    assert test.rows.tolist() == TINY_TEST
    # re-opening the cache reports the skipped rows again
    with pytest.warns(UserWarning, match="skipped 2"):
        spec.load("train", tmp_path / "data")


def test_missing_raw_file_names_file_folder_and_source(tmp_path, cache):
    spec = tiny_spec(tmp_path / "data")
    (tmp_path / "data" / "molecules" / "tiny.csv.gz").unlink()
    with pytest.raises(MissingRawFileError) as err:
        spec.load("train", tmp_path / "data")
    msg = str(err.value)
    assert "molecules/tiny.csv.gz" in msg and str(tmp_path / "data") in msg and "https://example.org/tiny.csv.gz" in msg


def test_checksum_mismatch_names_file_and_both_hashes(tmp_path, cache):
    spec = tiny_spec(tmp_path / "data")
    path = tmp_path / "data" / "molecules" / "tiny.csv.gz"
    _write_gz_csv(path, ["idx", "smiles"], [[i, s] for i, s in enumerate(["CC"] * 5)])
    with pytest.raises(ChecksumMismatchError) as err:
        spec.load("train", tmp_path / "data")
    msg = str(err.value)
    assert str(path) in msg and spec.raw["smiles"].sha256 in msg and _sha(path) in msg


def test_bad_test_index_is_an_error(tmp_path, cache):
    spec = tiny_spec(tmp_path / "data")
    idx_path = tmp_path / "data" / "molecules" / "tiny_test.json"
    idx_path.write_text(json.dumps({"valid_idxs": ["000002", "000009"]}))  # row 9 does not exist
    spec = dataclasses.replace(spec, raw={**spec.raw, "test_idx": dataclasses.replace(
        spec.raw["test_idx"], sha256=_sha(idx_path))})
    with pytest.raises(ValueError, match="distinct rows 0..4"):
        spec.load("test", tmp_path / "data")


def test_generic_bad_graph_is_skipped(tmp_path, cache):
    doc = {"name": "g", "num_graphs": 5, "splits": None, "graphs": [
        {"num_nodes": 3, "edges": [[0, 1], [1, 2]]},
        {"num_nodes": 2, "edges": [[0, 5]]},  # out of range -> skipped
        {"num_nodes": 2, "edges": [[0, 1]]},
        {"num_nodes": 1, "edges": []},
        {"num_nodes": 3, "edges": [[0, 1], [0, 1]]},  # repeated edge -> skipped
    ]}
    path = tmp_path / "data" / "generic" / "g.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    spec = GDSSGraphSpec(name="g", raw={"graphs": RawFile("generic/g.json", _sha(path), "https://example.org/g")},
                         splits=("train", "test"))
    assert spec.split_sizes(tmp_path / "data") == {"train": 4, "test": 1}  # test = first int(0.2 * 5) = 1 graph
    with pytest.warns(UserWarning, match=r"skipped 2 of 4 .*row 1: ValueError: edge endpoint out of range"):
        train = spec.load("train", tmp_path / "data")
    assert train.rows.tolist() == [2, 3]
    assert [r for r, _ in train.meta["skipped"]["rows"]] == [1, 4]
    assert train[1].num_nodes == 1 and train[1].edge_index.shape == (2, 0)


# ----------------------------------------------------------------------------------------------------------------------
# cache
# ----------------------------------------------------------------------------------------------------------------------
def test_cache_layout_is_compact_and_memory_mapped(tmp_path, cache):
    spec = tiny_spec(tmp_path / "data", smiles=["CCO", "CC(=O)O", "c1ccccc1O", "CN", "N#CC(=O)F"])
    ds = spec.load("train", tmp_path / "data")
    folder = ds.cache_dir
    assert folder.parent == cache / "tiny" and folder.name.startswith("train-")
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["meta.json", "node_ptr.npy", "edge_ptr.npy", "rows.npy", "smiles.txt", "node.x.npy",
                            "node.charge.npy", "node.num_hs.npy", "edge.edge_index.npy", "edge.edge_attr.npy",
                            "manifest.json"])
    assert isinstance(ds._arrays["node"]["x"], np.memmap)
    # train = rows 0, 1, 3 (rows 2 and 4 are the test split): CCO, CC(=O)O, CN
    assert ds._node_ptr.tolist() == [0, 3, 7, 9]
    assert ds.num_nodes_per_graph.tolist() == [3, 4, 2]
    assert ds.num_edges_per_graph.tolist() == [4, 6, 2]
    assert ds.meta["nodes"] == {"min": 2, "mean": 3.0, "max": 4}
    assert ds.meta["edges"] == {"min": 1, "mean": 2.0, "max": 3}
    assert ds.meta["arrays"]["edge.edge_index"] == {"dtype": "int8", "shape": [12, 2]}
    assert not list(cache.glob("tiny/.tmp*"))


def test_reopen_uses_cache_and_version_bump_rebuilds(tmp_path, cache, monkeypatch):
    root = tmp_path / "data"
    spec = tiny_spec(root, smiles=["CCO", "CC", "c1ccccc1O", "CN", "N#CC(=O)F"])
    first = spec.load("train", root).cache_dir
    calls = []
    real_build = base.build_cache
    monkeypatch.setattr(base, "build_cache", lambda *a, **k: calls.append(1) or real_build(*a, **k))
    assert spec.load("train", root).cache_dir == first and calls == []  # warm: no rebuild
    v2 = dataclasses.replace(spec, version=2)
    ds2 = v2.load("train", root)
    assert calls == [1] and ds2.cache_dir != first and ds2.meta["version"] == 2
    assert not first.exists()  # the stale cache of the same split is removed
    # a new raw file (new sha256) also gives a new cache
    new_spec = tiny_spec(root, smiles=["CCO", "CC", "c1ccccc1O", "CNC", "N#CC(=O)F"], version=2)
    ds3 = new_spec.load("train", root)
    assert calls == [1, 1] and ds3.cache_dir != ds2.cache_dir and ds3.smiles[-1] == "CNC"


def test_failed_build_leaves_no_cache(tmp_path, cache, monkeypatch):
    spec = tiny_spec(tmp_path / "data", smiles=["CCO", "CC", "c1ccccc1O", "CN", "N#CC(=O)F"])

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(base.np, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        spec.load("train", tmp_path / "data")
    assert list((cache / "tiny").iterdir()) == []  # neither a final folder nor a temp folder


def test_worker_pool_build_equals_single_process(tmp_path, cache, monkeypatch):
    smiles = ["CCO", "CC(=O)O", "c1ccccc1O", "CN", "N#CC(=O)F", "C1CC1", "OC=O", "FC(F)F", "C=CC#N", "CCN(C)C",
              "c1ccncc1", "C1CCOC1"]
    path = _write_gz_csv(tmp_path / "data" / "m" / "train.csv.gz", ["SMILES"], [[s] for s in smiles])
    spec = SplitFilesMoleculeSpec(name="pool", raw={"train": RawFile("m/train.csv.gz", _sha(path), "u")},
                                  splits=("train",), vocab=VOCABS["qm9"], smiles_column="SMILES")
    single = spec.load("train", tmp_path / "data", num_workers=1)
    ref = [single[i] for i in range(len(single))]
    monkeypatch.setattr(base, "MIN_ROWS_FOR_POOL", 1)
    monkeypatch.setattr(base, "CHUNK_SIZE", 5)  # 3 chunks over 2 worker processes
    spec.prepare("train", tmp_path / "data", num_workers=2, rebuild=True)
    pooled = spec.load("train", tmp_path / "data")
    assert pooled.smiles == smiles
    for a, b in zip(ref, pooled):
        assert_data_equal(a, b)


def test_cached_molecule_equals_fresh_conversion(tmp_path, cache):
    smiles = ["CCO", "CC(=O)[O-].[NH4+]", "c1ccccc1O", "CN", "N#CC(=O)F"]
    spec = tiny_spec(tmp_path / "data", smiles=smiles)
    ds = spec.load("train", tmp_path / "data")
    for i, smi in enumerate(ds.smiles):
        fresh = smiles_to_data(smi, VOCABS["qm9"])
        assert_data_equal(ds[i], fresh)
    assert ds[1].charge.tolist() == [0, 0, 0, -1, 1]


def test_graph_dataset_indexing_and_batching(tmp_path, cache):
    spec = tiny_spec(tmp_path / "data", smiles=["CCO", "CC", "c1ccccc1O", "CN", "N#CC(=O)F"])
    ds = spec.load("train", tmp_path / "data")  # rows 0, 1, 3
    assert len(ds) == 3 and repr(ds) == "MoleculeDataset(tiny, split=train, num_graphs=3)"
    assert ds[-1].num_nodes == 2 and ds[torch.tensor(0)].num_nodes == 3
    with pytest.raises(IndexError, match="out of range"):
        ds[3]
    view = ds[1:]
    assert len(view) == 2 and view.smiles == ["CC", "CN"] and view.rows.tolist() == [1, 3]
    sub = ds[[2, 0]]
    assert sub.smiles == ["CN", "CCO"] and sub[0].num_nodes == 2 and sub[-1].num_nodes == 3
    assert [d.num_nodes for d in ds] == [3, 2, 2]
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch.num_graphs == 3 and batch.x.tolist() == [0, 0, 2, 0, 0, 0, 1]
    assert batch.edge_index.shape == (2, 8)


# ----------------------------------------------------------------------------------------------------------------------
# generic graphs
# ----------------------------------------------------------------------------------------------------------------------
def test_edge_list_to_arrays_hand_checked():
    # triangle 0-1-2 plus pendant 2-3
    out = edge_list_to_arrays(4, [[0, 1], [1, 2], [0, 2], [2, 3]])
    assert out.tolist() == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1], [2, 3], [3, 2]]
    with pytest.raises(ValueError, match="self loop"):
        edge_list_to_arrays(3, [[1, 1]])
    with pytest.raises(ValueError, match="out of range"):
        edge_list_to_arrays(3, [[0, 3]])
    assert edge_list_to_arrays(2, []).shape == (0, 2)


GENERIC = ["community_small", "ego_small", "grid", "enzymes", "comm20", "planar", "sbm", "tree"]


@pytest.mark.parametrize("name", GENERIC)
def test_generic_dataset_matches_json(name, shared_data):
    from graphgen.data.datasets.generic import read_graph_json

    spec = DATASETS[name]
    doc = read_graph_json(shared_data / spec.raw["graphs"].path)
    for split in spec.splits:
        ds = load_dataset(name, split)
        # the split follows the convention; GDSS sets store the same lists in the file (independent check)
        assert ds.rows.tolist() == doc["splits"][split]
        assert len(ds) == len(doc["splits"][split])
        for i in range(min(len(ds), 25)):
            g = doc["graphs"][int(ds.rows[i])]
            d = ds[i]
            assert d.num_nodes == g["num_nodes"] and set(d.keys()) == {"num_nodes", "edge_index"}
            ei = d.edge_index
            assert ei.dtype == torch.long and ei.shape[1] == 2 * len(g["edges"])
            assert {tuple(e) for e in ei.t().tolist() if e[0] < e[1]} == {tuple(e) for e in g["edges"]}
            key = ei[0] * d.num_nodes + ei[1]
            assert torch.equal(key, key.sort().values)  # sorted by (row, col)
    all_nodes = [g["num_nodes"] for g in doc["graphs"]]
    stats = doc["stats"]
    assert (min(all_nodes), max(all_nodes)) == (stats["min_nodes"], stats["max_nodes"])


# ----------------------------------------------------------------------------------------------------------------------
# molecules on the real data
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def qm9(shared_data):
    return {s: load_dataset("qm9", s) for s in ("train", "test")}


def test_qm9_split_and_targets(qm9, shared_data):
    assert len(qm9["train"]) == 120_803 and len(qm9["test"]) == 13_082
    idx = json.loads((shared_data / "molecules" / "valid_idx_qm9.json").read_text())["valid_idxs"]
    assert qm9["test"].rows.tolist() == sorted(int(i) for i in idx)  # GDSS: int(i), 0-based
    assert qm9["train"].meta["skipped"]["count"] == 0
    y_train = np.asarray(qm9["train"]._arrays["graph"]["y"])
    y_test = np.asarray(qm9["test"]._arrays["graph"]["y"])
    # qm9pack lacks 3054 molecules: their targets are NaN, the molecules are kept
    assert np.isnan(y_train[:, 0]).sum() + np.isnan(y_test[:, 0]).sum() == 3054
    methane = qm9["train"][0]
    assert qm9["train"].smiles[0] == "C" and methane.y.shape == (1, len(QM9_TARGETS))
    assert methane.y[0, 0].item() == pytest.approx(157.7118) and methane.y[0, 10].item() == pytest.approx(-40.47893)
    assert qm9["train"].target_names == QM9_TARGETS


def test_qm9_cache_equals_fresh_conversion(qm9):
    rng = np.random.default_rng(0)
    for split, ds in qm9.items():
        for i in rng.integers(0, len(ds), size=200):
            fresh = smiles_to_data(ds.smiles[i], VOCABS["qm9"])
            cached = ds[int(i)]
            del cached.y
            assert_data_equal(cached, fresh)


@pytest.mark.parametrize("split,size", [("val", 1_000), ("test", 1_000),
                                        pytest.param("train", 10_000, marks=pytest.mark.slow)])
def test_zinc12k(shared_data, split, size):
    ds = load_dataset("zinc12k", split)
    assert len(ds) == size and ds.meta["skipped"]["count"] == 0
    with gzip.open(shared_data / "molecules" / "zinc12k_benchmarking_gnns.csv.gz", "rt") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split]
    assert ds.smiles == [r["smiles"] for r in rows]
    y = torch.tensor([float(r["target_normalized_recomputed"]) for r in rows])
    assert torch.allclose(torch.cat([d.y for d in ds]), y)
    d = ds[0]
    assert d.x.dim() == 1 and int(d.x.max()) < len(ZINC12K_ATOM_TYPES) and int(d.edge_attr.max()) <= 2
    fresh = convert_zinc12k(np.array([0]), [ds.smiles[0]])
    assert d.x.tolist() == fresh.node["x"].tolist() and d.edge_index.t().tolist() == fresh.edge["edge_index"].tolist()
    assert d.edge_attr.tolist() == fresh.edge["edge_attr"].tolist()


def test_zinc12k_atom_tokens_hand_checked():
    from rdkit import Chem

    mol = Chem.MolFromSmiles("[NH3+]C[C@@H](C(=O)[O-])c1cc[nH]c1")
    assert [zinc12k_atom_token(a) for a in mol.GetAtoms()] == [
        "N[H3]+", "C", "C[H1]", "C", "O", "O-", "C", "C", "C", "N[H1]", "C"]
    assert all(t in ZINC12K_ATOM_TYPES for t in ["N[H3]+", "C[H1]", "O-", "N[H1]"])
    rows = convert_zinc12k(np.array([0, 1]), ["C[Si](C)C", "CC"])
    assert rows.rows.tolist() == [1] and "Si" in rows.skipped[0][1]


HIV_RELAXED = [137, 987, 12882, 18293, 30784, 30785, 35728]  # RDKit 2026 cannot sanitize these (all in train)


def _hiv_table(shared_data: Path) -> list[dict[str, str]]:
    with gzip.open(shared_data / "molecules" / "hiv_moleculenet.csv.gz", "rt") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("split,size", [("val", 4_113), ("test", 4_113),
                                        pytest.param("train", 32_901, marks=pytest.mark.slow)])
def test_ogbg_molhiv_matches_ogb_smiles2graph(shared_data, split, size):
    from ogb.utils import smiles2graph

    ds = load_dataset("ogbg-molhiv", split)
    assert len(ds) == size and ds.meta["skipped"]["count"] == 0
    table = _hiv_table(shared_data)
    relaxed = set(HIV_RELAXED)
    for i in np.random.default_rng(1).integers(0, len(ds), size=100):
        d, row = ds[int(i)], table[int(ds.rows[i])]
        assert ds.smiles[i] == row["smiles"]
        assert d.y.tolist() == [[int(row["HIV_active"])]]
        if int(ds.rows[i]) in relaxed:
            continue
        g = smiles2graph(row["smiles"])
        assert torch.equal(d.x, torch.from_numpy(g["node_feat"]))
        assert torch.equal(d.edge_index, torch.from_numpy(g["edge_index"]))
        assert torch.equal(d.edge_attr, torch.from_numpy(g["edge_feat"]))
    assert sorted(r for r, _ in ds.meta["notes"]) == (HIV_RELAXED if split == "train" else [])


def test_ogbg_molhiv_unsanitizable_molecules_are_kept(shared_data):
    from rdkit import Chem

    table = _hiv_table(shared_data)
    smiles = [table[i]["smiles"] for i in HIV_RELAXED]
    assert all(Chem.MolFromSmiles(s) is None for s in smiles)
    out = convert_ogb(np.asarray(HIV_RELAXED), smiles)
    assert out.rows.tolist() == HIV_RELAXED and out.skipped == []
    assert [r for r, _ in out.notes] == HIV_RELAXED
    heavy = [Chem.MolFromSmiles(s, sanitize=False).GetNumAtoms() for s in smiles]
    assert out.num_nodes.tolist() == heavy and out.node["x"].shape == (sum(heavy), 9)
    assert (out.node["x"] >= 0).all()


def test_ogb_graph_no_bonds():
    from rdkit import Chem

    x, ei, ea = ogb_graph(Chem.MolFromSmiles("[Na+]"))
    assert x.shape == (1, 9) and ei.shape == (2, 0) and ea.shape == (0, 3)


@pytest.mark.slow
def test_zinc250k_prepare(shared_data):
    tr, te = load_dataset("zinc250k", "train"), load_dataset("zinc250k", "test")
    assert (len(tr), len(te)) == (224_568, 24_887)
    assert tr.meta["skipped"]["count"] == 0 and te.meta["nodes"]["max"] <= 38
    idx = json.loads((shared_data / "molecules" / "valid_idx_zinc250k.json").read_text())
    assert te.rows.tolist() == sorted(idx)
    for i in np.random.default_rng(0).integers(0, len(te), size=200):
        assert_data_equal(te[int(i)], smiles_to_data(te.smiles[i], VOCABS["zinc250k"]))


@pytest.mark.slow
@pytest.mark.parametrize("split,size", [("train", 1_584_663), ("test", 176_074), ("test_scaffolds", 176_225)])
def test_moses_prepare(shared_data, split, size):
    ds = load_dataset("moses", split)
    assert len(ds) == size and ds.meta["skipped"]["count"] == 0
    for i in np.random.default_rng(0).integers(0, len(ds), size=200):
        assert_data_equal(ds[int(i)], smiles_to_data(ds.smiles[i], VOCABS["moses"]))


def test_dataset_pickles_without_copying_arrays(tmp_path, cache):
    import pickle

    spec = tiny_spec(tmp_path / "data", smiles=["CCO", "CC", "c1ccccc1O", "CN", "N#CC(=O)F"])
    ds = spec.load("train", tmp_path / "data")[[2, 0]]
    blob = pickle.dumps(ds)
    assert len(blob) < 2000
    back = pickle.loads(blob)
    assert back.smiles == ["CN", "CCO"] and back.vocab == VOCABS["qm9"]
    assert_data_equal(back[0], ds[0])
