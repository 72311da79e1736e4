"""Every error graphgen raises on purpose derives from GraphgenError and from the built-in class callers catch."""
import pytest

from graphgen.data.raw import ChecksumMismatchError, MissingRawFileError
from graphgen.data.registry import UnknownDatasetError, load_dataset
from graphgen.errors import CorruptFileError, GraphgenError, InputError
from graphgen.generate.base import SampleOptionError
from graphgen.train.checkpoint import CheckpointError
from graphgen.train.config import ConfigError


@pytest.mark.parametrize("cls, builtin", [
    (InputError, ValueError), (CorruptFileError, ValueError), (ChecksumMismatchError, ValueError),
    (MissingRawFileError, FileNotFoundError), (UnknownDatasetError, KeyError), (ConfigError, ValueError),
    (CheckpointError, RuntimeError), (SampleOptionError, ValueError)])
def test_error_classes_derive_from_graphgen_error_and_builtin(cls, builtin):
    assert issubclass(cls, GraphgenError) and issubclass(cls, builtin)


def test_unknown_dataset_is_a_graphgen_error_naming_the_name():
    with pytest.raises(GraphgenError, match="no_such_dataset"):
        load_dataset("no_such_dataset")
