"""oasst_quality: data-quality analytics for crowd-sourced, human-annotated conversation datasets.

Load an OASST export with :func:`load` (or :func:`load_sample` for the bundled sample), then pass
its tables to the analyses in :mod:`oasst_quality.agreement`, :mod:`oasst_quality.consensus` and
the other modules.
"""

from .dataset import Dataset
from .errors import FormatError, NotComputableError, OasstQualityError, SchemaError
from .estimate import Estimate
from .forest import Forest, ForestStats
from .io import load, load_sample, sample_path, write

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "Estimate",
    "Forest",
    "ForestStats",
    "FormatError",
    "NotComputableError",
    "OasstQualityError",
    "SchemaError",
    "load",
    "load_sample",
    "sample_path",
    "write",
]
