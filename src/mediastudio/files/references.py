"""Finding uploaded-file references (``file_…`` ids) in a job's input."""

from __future__ import annotations

import re
from typing import Any

FILE_ID = re.compile(r"^file_[0-9a-z]{26}$")


def file_ids_in(value: Any) -> set[str]:
    """Every ``file_…`` id among the strings of a JSON value (a job's input)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, str):
            if FILE_ID.match(item):
                found.add(item)
        elif isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)

    walk(value)
    return found
