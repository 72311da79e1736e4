"""Raw data files: where they live, how they are checked, and the errors that name the fix.

Data root resolution (first hit wins):

1. an explicit ``data_dir`` argument (the CLI's ``--data-dir``),
2. the ``GRAPHGEN_DATA`` environment variable,
3. ``./datasets`` in the current working directory.

Raw files are addressed by a path relative to that root, e.g. ``molecules/qm9_smiles.csv.gz`` (the layout of
``shared/data``). Processed caches are written under the cache root: ``GRAPHGEN_CACHE`` if set, else
``~/.cache/graphgen`` (raw data folders are often read-only, so caches never go next to the raw files).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from graphgen.errors import GraphgenError, InputError


class MissingRawFileError(GraphgenError, FileNotFoundError):
    """A raw data file is not on disk; the message names the file, where we looked and where to get it."""


class ChecksumMismatchError(InputError):
    """A raw data file's sha256 differs from the declared one; the message names file, expected and actual hash."""


@dataclass(frozen=True)
class RawFile:
    """One raw input file of a dataset.

    Args:
        path: path relative to the data root (e.g. ``"molecules/qm9_smiles.csv.gz"``).
        sha256: expected sha256 of the file's bytes.
        url: the public URL the file (or the upstream file it was converted from) comes from.
        downloadable: ``True`` when ``url`` serves exactly these bytes, so :func:`fetch` may download it.
            ``False`` for files that were converted from an upstream format (see ``datasets/<name>.md``);
            those must be placed in the data root by hand.
        note: extra guidance printed when the file is missing.
    """

    path: str
    sha256: str
    url: str
    downloadable: bool = False
    note: str = ""


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder raw files are read from: ``data_dir``, else ``$GRAPHGEN_DATA``, else ``./datasets``."""
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get("GRAPHGEN_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.cwd() / "datasets").resolve()


def cache_root() -> Path:
    """The folder processed caches are written to: ``$GRAPHGEN_CACHE``, else ``~/.cache/graphgen``."""
    env = os.environ.get("GRAPHGEN_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "graphgen"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


_VERIFIED: dict[tuple[str, float, int], str] = {}


def verify(path: Path, raw: RawFile) -> None:
    """Raise :class:`ChecksumMismatchError` if ``path`` does not hash to ``raw.sha256``.

    Hashes are memoised per (path, mtime, size) for the life of the process.
    """
    st = path.stat()
    key = (str(path), st.st_mtime, st.st_size)
    actual = _VERIFIED.get(key)
    if actual is None:
        actual = sha256_of(path)
        _VERIFIED[key] = actual
    if actual != raw.sha256:
        raise ChecksumMismatchError(
            f"checksum mismatch for {path}: expected sha256 {raw.sha256}, got {actual}. "
            f"The file is corrupt or a different version; replace it with the file from {raw.url}"
        )


def fetch(raw: RawFile, data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Path:
    """Return the local path of ``raw`` after checking its sha256.

    If the file is missing and ``download`` is true and the file is downloadable, it is downloaded from
    ``raw.url`` into the data root (checked before it is moved into place). Otherwise a
    :class:`MissingRawFileError` names the file, the folder searched and where to obtain it.
    """
    root = data_root(data_dir)
    path = root / raw.path
    if not path.exists():
        if download and raw.downloadable:
            _download(raw, path)
        else:
            how = (
                f"download it from {raw.url}"
                + (" (or pass download=True / --download)" if raw.downloadable else "")
                if raw.downloadable
                else f"it is converted from {raw.url}; see datasets/ and PROVENANCE.md for how to obtain it"
            )
            extra = f" {raw.note}" if raw.note else ""
            origin = ("--data-dir" if data_dir is not None
                      else "$GRAPHGEN_DATA" if os.environ.get("GRAPHGEN_DATA") else "the default ./datasets")
            raise MissingRawFileError(
                f"raw file '{raw.path}' not found: looked for {path} (data root {root}, from {origin}; set "
                f"--data-dir or GRAPHGEN_DATA to the folder holding it). To get it, {how}.{extra}"
            )
    verify(path, raw)
    return path


def _download(raw: RawFile, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        tmp_path = Path(tmp.name)
        with urllib.request.urlopen(raw.url, timeout=60) as resp:  # noqa: S310 - fixed public URL
            shutil.copyfileobj(resp, tmp)
    try:
        verify(tmp_path, raw)
    except ChecksumMismatchError:
        tmp_path.unlink(missing_ok=True)
        raise
    tmp_path.replace(dest)
