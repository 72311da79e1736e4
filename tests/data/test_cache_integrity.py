"""Processed-cache integrity: every file is checked against manifest.json on open; a damaged cache is named and
rebuilt by ``spec.load``.

Reproducer (issue 22): truncating qm9's ``smiles.txt`` gave a dataset of 13,082 graphs with 6,610 SMILES, silently.
Here the same damage, and the others of the issue (truncate, append, flip bytes, delete, garbage JSON, counts that
disagree), are done to a five-molecule cache in ``tmp_path``.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from graphgen.data.datasets import base
from graphgen.data.datasets.base import CorruptCacheError, GraphDataset, verify_cache, write_manifest
from graphgen.data.datasets.molecules import Zinc12kSpec
from graphgen.data.raw import RawFile
from graphgen.errors import CorruptFileError

SMILES = ["CCO", "CC(=O)O", "c1ccccc1O", "CN", "N#CC(=O)F"]


def tiny_zinc_spec(data_root: Path) -> Zinc12kSpec:
    """A five-molecule ZINC-12k-like dataset: its cache has node, edge and graph arrays and smiles.txt."""
    path = data_root / "molecules" / "tiny_zinc.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["split", "subset_index", "smiles", "target_normalized_recomputed"])
    writer.writerows(["train", i, s, 0.5 * i] for i, s in enumerate(SMILES))
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(buf.getvalue().encode())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Zinc12kSpec(name="tiny_zinc", raw={"csv": RawFile("molecules/tiny_zinc.csv.gz", sha, "https://example.org")},
                       splits=("train",))


def snapshot(ds: GraphDataset) -> list:
    """Every graph's tensors as lists, and the SMILES: what a rebuilt cache must reproduce exactly."""
    graphs = [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in ds[i].to_dict().items()}
              for i in range(len(ds))]
    return [graphs, ds.smiles]


@pytest.fixture()
def built(tmp_path, monkeypatch) -> tuple[Zinc12kSpec, Path, Path, list]:
    """(spec, data root, cache folder, snapshot of the intact dataset)."""
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    spec = tiny_zinc_spec(root)
    ds = spec.load("train", root)
    return spec, root, ds.cache_dir, snapshot(ds)


# -- the ways of the issue, each on the files it applies to ------------------------------------------------------------
def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def append(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b"CCO\n")


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 + 1] ^= 0x5A
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


def garbage_json(path: Path) -> None:
    path.write_text('{"name": "tiny_zinc", "num_graphs": ')


CORRUPTIONS = [
    (truncate, "smiles.txt"), (truncate, "node.x.npy"), (truncate, "edge.edge_index.npy"), (truncate, "meta.json"),
    (truncate, "manifest.json"),
    (append, "smiles.txt"), (append, "graph.y.npy"), (append, "node_ptr.npy"),
    (flip_byte, "edge.edge_attr.npy"), (flip_byte, "smiles.txt"), (flip_byte, "rows.npy"), (flip_byte, "meta.json"),
    (delete, "smiles.txt"), (delete, "edge_ptr.npy"), (delete, "meta.json"), (delete, "manifest.json"),
    (garbage_json, "meta.json"), (garbage_json, "manifest.json"),
]


@pytest.mark.parametrize("damage, name", CORRUPTIONS, ids=[f"{d.__name__}-{n}" for d, n in CORRUPTIONS])
def test_damaged_file_is_named_and_load_rebuilds(built, damage, name):
    spec, root, folder, intact = built
    damage(folder / name)
    with pytest.raises(CorruptCacheError, match=rf"{folder / name}.*rebuild") as info:
        GraphDataset(folder)
    assert isinstance(info.value, CorruptFileError) and isinstance(info.value, ValueError)
    assert info.value.path == folder / name
    with pytest.warns(UserWarning, match=rf"{name}.*rebuilding the processed cache of tiny_zinc/train"):
        again = spec.load("train", root)
    assert again.cache_dir == folder and snapshot(again) == intact
    verify_cache(folder)  # the rebuilt folder is whole


def test_truncated_smiles_never_pairs_graphs_with_fewer_smiles(built):
    """The issue's qm9 case: after truncating smiles.txt the cache opened with 13,082 graphs and 6,610 SMILES."""
    spec, root, folder, intact = built
    lines = (folder / "smiles.txt").read_text().splitlines()
    (folder / "smiles.txt").write_text("\n".join(lines[:2]) + "\n")   # whole lines: still a well-formed file
    with pytest.raises(CorruptCacheError, match="smiles.txt: .*bytes where the manifest records"):
        GraphDataset(folder)
    with pytest.warns(UserWarning, match="smiles.txt"):
        ds = spec.load("train", root)
    assert len(ds.smiles) == len(ds) == len(SMILES)


def _rewrite_manifest(folder: Path) -> None:
    """Re-hash the folder with the counts of the intact manifest, as a buggy builder would have: sizes and hashes
    then agree with the files, so only the counts can tell."""
    counts = json.loads((folder / "manifest.json").read_text())["counts"]
    write_manifest(folder, counts)


def test_counts_that_disagree_are_named_even_when_hashes_match(built):
    spec, root, folder, intact = built
    lines = (folder / "smiles.txt").read_text().splitlines()
    (folder / "smiles.txt").write_text("\n".join(lines[:3]) + "\n")
    _rewrite_manifest(folder)
    with pytest.raises(CorruptCacheError, match=r"smiles.txt: 3 SMILES lines for 5 graphs"):
        GraphDataset(folder)

    spec.prepare("train", root, rebuild=True)
    ptr = np.load(folder / "node_ptr.npy")
    ptr[2] = ptr[3] + 1  # offsets that go down
    np.save(folder / "node_ptr.npy", ptr)
    _rewrite_manifest(folder)
    with pytest.raises(CorruptCacheError, match=r"node_ptr.npy: offsets must rise"):
        GraphDataset(folder)

    spec.prepare("train", root, rebuild=True)
    np.save(folder / "graph.y.npy", np.zeros(4, dtype=np.float32))  # one target short
    _rewrite_manifest(folder)
    with pytest.raises(CorruptCacheError, match=r"graph.y.npy: float32 \[4\], expected float32 \[5\]"):
        GraphDataset(folder)

    spec.prepare("train", root, rebuild=True)
    counts = json.loads((folder / "manifest.json").read_text())["counts"]
    write_manifest(folder, {**counts, "graphs": 6})
    with pytest.raises(CorruptCacheError, match=r"meta.json: num_graphs is 5, the manifest counts 6"):
        GraphDataset(folder)
    with pytest.warns(UserWarning, match="meta.json"):
        assert snapshot(spec.load("train", root)) == intact


def test_manifest_lists_every_file_and_is_written_last(built, monkeypatch):
    spec, root, folder, _ = built
    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = sorted(p.name for p in folder.iterdir() if p.name != "manifest.json")
    assert sorted(manifest["files"]) == on_disk
    # atoms 3 + 4 + 7 + 2 + 5, bonds (2 + 3 + 7 + 1 + 4) in both directions
    assert manifest["counts"] == {"graphs": 5, "nodes": 21, "edges": 34, "smiles_lines": 5}
    for name, entry in manifest["files"].items():
        assert entry == {"size": (folder / name).stat().st_size,
                         "sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()}
    # a build that dies before the manifest leaves no finished cache behind
    def die(folder: Path, counts) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(base, "write_manifest", die)
    with pytest.raises(OSError, match="disk full"):
        spec.prepare("train", root, rebuild=True)
    assert not list(folder.parent.glob(".tmp*"))


def test_manifest_that_lists_a_path_outside_its_folder_is_rejected(built):
    _, _, folder, _ = built
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"]["../elsewhere.npy"] = {"size": 1, "sha256": "0" * 64}
    (folder / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(CorruptCacheError, match=r"manifest.json: lists '../elsewhere.npy'"):
        GraphDataset(folder)


def test_fresh_files_are_hashed_on_every_open(built):
    """A rewrite within the filesystem's timestamp granularity keeps size and maybe mtime: files changed in the
    last RACY_SECONDS are never taken from the per-process record, so a same-size rewrite is still caught."""
    _, _, folder, _ = built
    GraphDataset(folder)
    flip_byte(folder / "node.x.npy")
    with pytest.raises(CorruptCacheError, match="node.x.npy: sha256"):
        GraphDataset(folder)


def test_old_files_are_hashed_once_and_rehashed_after_a_change(built, monkeypatch):
    _, _, folder, _ = built
    monkeypatch.setattr(base, "RACY_SECONDS", -1.0)  # treat the files as old enough to be recorded
    calls = []
    real = base.sha256_of
    monkeypatch.setattr(base, "sha256_of", lambda p: calls.append(Path(p).name) or real(p))
    GraphDataset(folder)
    first = len(calls)
    GraphDataset(folder)
    assert first == len(list(folder.iterdir())) - 1 and len(calls) == first  # second open: no file hashed
    flip_byte(folder / "node.x.npy")
    st = (folder / "node.x.npy").stat()
    os.utime(folder / "node.x.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later write's mtime
    with pytest.raises(CorruptCacheError, match="node.x.npy: sha256"):
        GraphDataset(folder)
    assert calls[first:] == ["node.x.npy"]


def test_copied_cache_opens_and_error_pickles(built, tmp_path):
    _, _, folder, intact = built
    copy = tmp_path / "copy" / "tiny_zinc" / folder.name
    shutil.copytree(folder, copy)
    assert snapshot(base.MoleculeDataset(copy)) == intact  # a manifest names files relative to its own folder
    err = CorruptCacheError(copy / "rows.npy", "missing")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.path == err.path
    assert "graphgen data prepare tiny_zinc --rebuild" in str(err)
