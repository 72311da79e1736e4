"""Round trip Mol -> Data -> Mol on every molecule of QM9, ZINC250k and MOSES train, plus conversion speed.

For each molecule ``m`` (RDKit-parsed SMILES) and each mode (kekulized, aromatic) it checks
``canonical_smiles(data_to_mol(mol_to_data(m))) == canonical_smiles(m)`` (no stereo; see graphgen.data.molecules),
and counts the molecules whose graph needs the ``num_hs`` attribute (they would fail without it).
Work is split over processes (``--workers``, default 2). The check uses the numpy path (``mol_to_arrays`` /
``arrays_to_mol``); ``mol_to_data`` / ``data_to_mol`` only wrap it in torch tensors (tests cover that path).
Each finished chunk is appended to ``--results`` (JSON lines), so an interrupted run resumes where it stopped, and
``--summarize`` prints the table of what is done so far. Then it times, on one core, SMILES -> graph conversion against
RDKit parsing alone and against PyG's ``torch_geometric.utils.from_smiles`` (the peer), and prints ratios.

    nice -n 10 python benchmarks/mol_roundtrip.py                       # everything (MOSES takes a while)
    python benchmarks/mol_roundtrip.py --summarize                      # counts so far from the results file
    python benchmarks/mol_roundtrip.py --datasets qm9 --limit 10000     # quick look
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

from rdkit import Chem, RDLogger
from tqdm import tqdm

from graphgen.data.molecules import (
    VOCABS,
    arrays_to_mol,
    canonical_smiles,
    mol_to_arrays,
    smiles_to_arrays,
    smiles_to_data,
)

DATASETS = {  # name -> (file under GRAPHGEN_DATA, SMILES column, expected rows)
    "qm9": ("molecules/qm9_smiles.csv.gz", "SMILES1", 133885),
    "zinc250k": ("molecules/zinc250k.csv.gz", "smiles", 249455),
    "moses": ("molecules/moses_train.csv.gz", "SMILES", 1584663),
}
MODES = ("kekulize", "aromatic")


def read_smiles(root: Path, name: str, limit: int | None = None) -> list[str]:
    path, column, _ = DATASETS[name]
    with gzip.open(root / path, "rt", newline="") as f:
        rows = csv.DictReader(f)
        out = [row[column] for row in rows]
    return out[:limit] if limit else out


def check_chunk(args: tuple[str, int, list[str], tuple[str, ...]]) -> dict:
    """Round-trip one chunk; returns counts and the failures as (row, mode, smiles, reason)."""
    name, start, smiles, modes = args
    RDLogger.DisableLog("rdApp.*")
    vocabs = {"kekulize": VOCABS[name], "aromatic": VOCABS[name].with_aromatic()}
    res = {m: {"checked": 0, "passed": 0, "needs_num_hs": 0, "fail_without_num_hs": 0} for m in modes}
    failures = []
    for offset, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        want = canonical_smiles(mol) if mol is not None else None
        for mode in modes:
            counts = res[mode]
            counts["checked"] += 1
            if mol is None:
                failures.append((start + offset, mode, s, "RDKit cannot parse"))
                continue
            vocab = vocabs[mode]
            try:
                arrays = mol_to_arrays(mol, vocab, kekulize=(mode == "kekulize"))
                got = canonical_smiles(arrays_to_mol(arrays, vocab))
            except Exception as err:  # noqa: BLE001 - every error is reported as a failure with its message
                failures.append((start + offset, mode, s, f"{type(err).__name__}: {err}"))
                continue
            if got != want:
                failures.append((start + offset, mode, s, f"round trip gave {got}"))
                continue
            counts["passed"] += 1
            if bool((arrays.num_hs >= 0).any()):
                counts["needs_num_hs"] += 1
                try:
                    without = arrays._replace(num_hs=arrays.num_hs * 0 - 1)
                    ok = canonical_smiles(arrays_to_mol(without, vocab)) == want
                except Exception:  # noqa: BLE001 - a sanitization error is exactly "fails without num_hs"
                    ok = False
                counts["fail_without_num_hs"] += int(not ok)
    return {"name": name, "start": start, "modes": list(modes), "counts": res, "failures": failures}


HEADER = (f"{'dataset':<10} {'mode':<9} {'checked':>9} {'passed':>9} {'failed':>7} {'needs num_hs':>13} "
          f"{'fail w/o num_hs':>16}")


def load_results(path: Path, modes: tuple[str, ...]) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return [r for r in map(json.loads, f) if tuple(r["modes"]) == modes]


def summarize(records: list[dict], names: list[str], modes: tuple[str, ...]) -> None:
    """Print the counts table (and every failure) of the given chunk records."""
    print(HEADER)
    failures = []
    for name in names:
        mine = [r for r in records if r["name"] == name]
        for mode in modes:
            c = {k: sum(r["counts"][mode][k] for r in mine) for k in ("checked", "passed", "needs_num_hs",
                                                                       "fail_without_num_hs")}
            total = DATASETS[name][2]
            done = "" if c["checked"] == total else f"   (partial: {c['checked']} of {total})"
            print(f"{name:<10} {mode:<9} {c['checked']:>9} {c['passed']:>9} {c['checked'] - c['passed']:>7} "
                  f"{c['needs_num_hs']:>13} {c['fail_without_num_hs']:>16}{done}")
        failures.extend((name,) + tuple(f) for r in mine for f in r["failures"])
    print(f"failures: {len(failures)}")
    for name, row, mode, smi, reason in sorted(failures):
        print(f"  {name} row {row} [{mode}] {smi}  -- {reason}")


def run_roundtrip(root: Path, names: list[str], modes: tuple[str, ...], workers: int, limit: int | None,
                  chunk: int, results: Path) -> None:
    print(f"round trip, modes {modes}, {workers} worker process(es), results in {results}")
    results.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["name"], r["start"]) for r in load_results(results, modes)}
    with mp.Pool(workers) as pool:
        for name in names:
            smiles = read_smiles(root, name, limit)
            expected = DATASETS[name][2]
            if limit is None and len(smiles) != expected:
                print(f"WARNING: {name} has {len(smiles)} rows, expected {expected}")
            tasks = [(name, i, smiles[i:i + chunk], modes) for i in range(0, len(smiles), chunk)
                     if (name, i) not in done]
            t0 = time.perf_counter()
            with open(results, "a") as out_file:
                for out in tqdm(pool.imap_unordered(check_chunk, tasks), total=len(tasks), desc=name, unit="chunk",
                                mininterval=30):
                    out_file.write(json.dumps(out) + "\n")
                    out_file.flush()
            print(f"{name}: {len(tasks)} chunks in {time.perf_counter() - t0:.0f} s", flush=True)
            summarize(load_results(results, modes), [name], modes)
    print("\nall datasets")
    summarize(load_results(results, modes), names, modes)


def per_molecule_us(fn, items) -> float:
    """CPU time of this process per item (process_time, so other jobs on a shared machine do not inflate it)."""
    t0 = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - t0) / len(items) * 1e6


def run_speed(root: Path, names: list[str], sample: int) -> None:
    from torch_geometric.utils import from_smiles

    print(f"\nconversion speed, one process, every k-th molecule ({sample} per dataset), CPU microseconds per molecule")
    print(f"{'dataset':<10} {'MolFromSmiles':>14} {'smiles_to_arrays':>17} {'smiles_to_data':>15} "
          f"{'PyG from_smiles':>16} {'data/PyG':>9} {'arrays/parse':>13}")
    for name in names:
        smiles = read_smiles(root, name)
        smiles = smiles[:: max(1, len(smiles) // sample)][:sample]
        vocab = VOCABS[name]
        parse = per_molecule_us(Chem.MolFromSmiles, smiles)
        arrays = per_molecule_us(lambda s: smiles_to_arrays(s, vocab), smiles)
        data = per_molecule_us(lambda s: smiles_to_data(s, vocab), smiles)
        pyg = per_molecule_us(from_smiles, smiles)
        print(f"{name:<10} {parse:>14.1f} {arrays:>17.1f} {data:>15.1f} {pyg:>16.1f} {data / pyg:>9.2f} "
              f"{arrays / parse:>13.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHGEN_DATA"),
                        help="folder with molecules/*.csv.gz (default: $GRAPHGEN_DATA)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT rows of each dataset")
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--speed-sample", type=int, default=5000, help="molecules per dataset for the speed table")
    parser.add_argument("--skip-roundtrip", action="store_true")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/mol_roundtrip_kekulize.jsonl"),
                        help="JSON-lines file of finished chunks (resume / --summarize read it)")
    parser.add_argument("--summarize", action="store_true", help="only print the table from --results")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    if args.summarize:
        summarize(load_results(args.results, tuple(args.modes)), args.datasets, tuple(args.modes))
        return
    if not args.data_dir:
        parser.error("set GRAPHGEN_DATA or pass --data-dir (the folder holding molecules/qm9_smiles.csv.gz)")
    root = Path(args.data_dir)
    RDLogger.DisableLog("rdApp.*")
    if not args.skip_roundtrip:
        run_roundtrip(root, args.datasets, tuple(args.modes), args.workers, args.limit, args.chunk, args.results)
    if not args.skip_speed:
        run_speed(root, args.datasets, args.speed_sample)


if __name__ == "__main__":
    main()
