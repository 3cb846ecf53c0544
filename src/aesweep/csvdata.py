"""Reading a user's CSV (``dataset=csv``) or Parquet file (``dataset=parquet``): every
check on the file and its table, by class.

Each problem is one :class:`DataError` naming ``dataset.path=<path>`` (or
``dataset.target=<col>``) and what is allowed. Checks on the task (classification or
regression) stay in :func:`aesweep.data.load_csv`, which calls :func:`read_table`.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from aesweep.errors import DataError
from aesweep.tabular import Features, categorical_columns, encode_features, read_parquet

log = logging.getLogger("aesweep")

SEPARATORS = {";": "semicolon", "\t": "tab"}
# pandas' C parser: "Error tokenizing data. C error: Expected 3 fields in line 4, saw 4"
RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_table(path: str, target: str, categorical: Any = None, max_categories: int = 50,
               file_format: str = "csv") -> tuple[Features, pd.Series]:
    """The features of ``path`` (see :class:`aesweep.tabular.Features`: float64, NaN for
    gaps, category codes in the ``categorical`` columns) and its ``target`` column,
    without gaps. ``file_format``: ``csv`` or ``parquet``.

    Raises:
        DataError: naming the file (or the target) for a bad path, header, shape, dtype or
            gap. Fully duplicated rows are legal: they get one warning on the ``aesweep`` log.
        ConfigError: naming ``dataset.categorical`` or ``dataset.max_categories``.
    """
    file = Path(path).expanduser()
    where = f"dataset.path={path}"
    _check_path(file, where, file_format)
    if file_format == "parquet":
        frame = read_parquet(path, where)
    else:
        # The raw header and the first row, as text: pandas' renaming of repeated (a -> a.1)
        # and blank (-> Unnamed: 0) names must never reach the data.
        names = _read(file, where, header=None, nrows=2, dtype=str, keep_default_na=False
                      ).iloc[0].tolist()
        _check_header(names, where)
        frame = _read(file, where)

    # size and shape
    if frame.empty:
        raise DataError(where, "file has a header but no rows")
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        raise DataError(f"dataset.target={target}",
                        f"no such column in {path}; columns are: {columns}")
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(where, f"no feature columns besides the target {target!r}")

    # dtypes and gaps
    if frame[target].isna().any():
        raise DataError(f"dataset.target={target}", f"missing values in the target of {path}")
    table = encode_features(features, categorical_columns(features, categorical), where,
                            max_categories)

    # duplicates: legal data, but a row and its copy can end up on both sides of a split
    repeats = int(frame.duplicated().sum())
    if repeats:
        log.warning("%s: %d of %d rows repeat an earlier row exactly; a row and its copy can "
                    "land in both the training and the test split", where, repeats, len(frame))
    return table, frame[target]


def _check_path(file: Path, where: str, file_format: str = "csv") -> None:
    if file.is_dir():
        kind = "a Parquet" if file_format == "parquet" else "a CSV"
        raise DataError(where, f"is a directory, not a file; give the path of {kind} file")
    if not file.is_file():
        raise DataError(where, "file not found")
    size, available = file.stat().st_size, psutil.virtual_memory().available
    if size > available:
        raise DataError(where, f"file is {_gib(size)} but only {_gib(available)} of memory is "
                               f"available; the file must fit in memory")


def _read(file: Path, where: str, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(file, **kwargs)
    except pd.errors.EmptyDataError:
        raise DataError(where, "file is empty") from None
    except PermissionError:
        raise DataError(where, "permission denied; the file must be readable by this user"
                        ) from None
    except pd.errors.ParserError as exc:
        ragged = RAGGED.search(str(exc))
        if ragged:
            expected, line, saw = ragged.groups()
            raise DataError(where, f"line {line} has {saw} fields but the header has "
                                   f"{expected}; every row needs one field per column"
                            ) from None
        raise DataError(where, f"cannot read it as CSV (ParserError: {str(exc).strip()})"
                        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(where, f"cannot read it as CSV ({type(exc).__name__}: {exc})") from None


def _check_header(names: list[str], where: str) -> None:
    repeated = [name for name, count in Counter(names).items() if count > 1 and name.strip()]
    if repeated:
        raise DataError(where, f"repeated column names in the header: {', '.join(repeated)}; "
                               f"each column needs its own name")
    unnamed = [i for i, name in enumerate(names, 1)
               if not name.strip() or re.fullmatch(r"Unnamed: \d+", name)]
    if unnamed:
        numbers = ", ".join(f"{i} ({names[i - 1]!r})" if names[i - 1].strip() else str(i)
                            for i in unnamed)
        which = f"columns {numbers} have" if len(unnamed) > 1 else f"column {numbers} has"
        hint = (" (a nameless first column is usually the row index that DataFrame.to_csv "
                "writes without index=False: drop it)" if unnamed[0] == 1 else "")
        raise DataError(where, f"header {which} no name; every column needs one{hint}")
    if len(names) == 1:
        found = {sep: names[0].count(sep) for sep in SEPARATORS if sep in names[0]}
        if found:
            sep = max(found, key=found.__getitem__)
            raise DataError(where, f"the header is one column, {names[0]!r}: the file looks "
                                   f"{SEPARATORS[sep]}-separated; columns must be separated "
                                   f"by commas")


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB"
