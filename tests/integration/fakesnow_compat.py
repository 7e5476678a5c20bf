"""fakesnow 0.12 (the newest) was written against snowflake-connector-python 4; the only
snowflake-sqlalchemy that runs on SQLAlchemy 2.1 (2.1.0) needs connector 5, which moved three
things fakesnow imports. `load()` puts them back, then imports fakesnow:

- `snowflake.connector.converter.SnowflakeConverter` (fakesnow quotes bound parameters with
  it) is connector 5's `ClientSideBindingConverter`, the same escape/quote/to_snowflake;
- `snowflake.connector.file_util` (only for PUT to a stage, never used here) is a stub;
- connector 5's `ResultMetadata.from_column` reads a protobuf column, fakesnow hands it the
  dict of Snowflake's REST rowtype: the description is built from the dict's fields.

Nothing of capisync or of the dialect is replaced: SQLAlchemy's snowflake:// dialect runs as
shipped and fakesnow answers `snowflake.connector.connect` with DuckDB underneath.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_TYPE_CODES = {  # the connector's FIELD_ID of each Snowflake type (connector 4's constants)
    "fixed": 0, "real": 1, "text": 2, "date": 3, "timestamp": 4, "variant": 5,
    "timestamp_ltz": 6, "timestamp_tz": 7, "timestamp_ntz": 8, "object": 9, "array": 10,
    "binary": 11, "time": 12, "boolean": 13,
}  # fmt: skip


def load() -> types.ModuleType:
    import snowflake.connector
    from snowflake.connector._internal.binding_converters import ClientSideBindingConverter
    from snowflake.connector.cursor import ResultMetadata

    if "snowflake.connector.converter" not in sys.modules:
        converter = types.ModuleType("snowflake.connector.converter")
        converter.SnowflakeConverter = ClientSideBindingConverter  # type: ignore[attr-defined]
        sys.modules["snowflake.connector.converter"] = converter
        snowflake.connector.converter = converter  # type: ignore[attr-defined]
    if "snowflake.connector.file_util" not in sys.modules:
        file_util = types.ModuleType("snowflake.connector.file_util")
        file_util.SnowflakeFileUtil = object  # type: ignore[attr-defined]
        sys.modules["snowflake.connector.file_util"] = file_util

    import fakesnow
    import fakesnow.cursor
    import fakesnow.rowtype

    def describe_as_result_metadata(describe_results: list[Any]) -> list[ResultMetadata]:
        return [
            ResultMetadata(
                name=c["name"],
                type_code=_TYPE_CODES[c["type"]],
                display_size=c["length"],
                internal_size=c["length"],
                precision=c["precision"],
                scale=c["scale"],
                is_nullable=c["nullable"],
            )
            for c in fakesnow.rowtype.describe_as_rowtype(describe_results)
        ]

    fakesnow.rowtype.describe_as_result_metadata = describe_as_result_metadata
    fakesnow.cursor.describe_as_result_metadata = describe_as_result_metadata  # type: ignore[attr-defined]
    return fakesnow
