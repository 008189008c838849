"""A registry: entries by name, in registration order, as a read-only mapping that :meth:`Registry.add` and
:meth:`Registry.remove` change. Activations, losses and graph operations are each one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=Named)


class Registry(Mapping[str, E]):
    """Entries by name, in registration order (a read-only mapping; :meth:`add` and :meth:`remove` change it)."""

    def __init__(self, entries: tuple[E, ...]) -> None:
        self._entries: dict[str, E] = {e.name: e for e in entries}

    def __getitem__(self, name: str) -> E:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: E) -> E:
        if entry.name in self._entries:
            raise ValueError(f"'{entry.name}' is already registered")
        self._entries[entry.name] = entry
        return entry

    def remove(self, name: str) -> None:
        del self._entries[name]
