"""The office directory (``index/offices.json``): who a responsible unit is, and where citizens go.

Rules (from shared/OFFICES.md): the short name as printed is the fact; a full name whose status is not
``confirmed`` is only ever shown as unconfirmed; in-person service is always the citizen's city bureau or the
12333 hotline.

Example::

    >>> d = OfficeDirectory.load(Path("index/offices.json"))
    >>> d.find_city("我在昆山上班")
    '苏州'
    >>> d.bureau("苏州")
    '苏州市人力资源和社会保障局'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Office:
    name: str  # short name as printed in the notices
    full_name: str | None
    status: str  # "confirmed" | "likely" | "unknown"
    kind: str | None
    handles: str | None
    note: str | None = None
    kind_en: str | None = None
    handles_en: str | None = None

    @property
    def confirmed_full_name(self) -> str | None:
        return self.full_name if self.status == "confirmed" else None


@dataclass(frozen=True)
class City:
    name: str
    bureau: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Hotline:
    number: str
    name: str


class OfficeDirectory:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.issuer: str = raw["issuer"]
        self.local_prefix: str = raw.get("local_bureau_unit_prefix", "各设区市")
        self.local_kind: str = raw["local_bureau"]["kind"]
        self.local_handles: str = raw["local_bureau"]["handles"]
        self.local_kind_en: str | None = raw["local_bureau"].get("kind_en")
        self.local_handles_en: str | None = raw["local_bureau"].get("handles_en")
        self.hotline = Hotline(raw["hotline"]["number"], raw["hotline"]["name"])
        self.offices = {
            o["name"]: Office(
                name=o["name"],
                full_name=o.get("full_name"),
                status=o.get("status", "unknown"),
                kind=o.get("kind"),
                handles=o.get("handles"),
                note=o.get("note"),
                kind_en=o.get("kind_en"),
                handles_en=o.get("handles_en"),
            )
            for o in raw["offices"]
        }
        self.cities = [City(c["name"], c["bureau"], tuple(c.get("aliases", []))) for c in raw["cities"]]
        # longest names first so 连云港 wins over a shorter accidental match
        pairs = [(c.name, c.name) for c in self.cities] + [(a, c.name) for c in self.cities for a in c.aliases]
        self._city_patterns = sorted(pairs, key=lambda p: -len(p[0]))

    @classmethod
    def load(cls, path: Path) -> OfficeDirectory:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def lookup(self, unit: str) -> Office:
        """Directory facts for a unit as printed; an unknown unit keeps its printed name and nothing else."""
        if unit in self.offices:
            return self.offices[unit]
        if unit.startswith(self.local_prefix):
            return Office(
                unit,
                None,
                "unknown",
                self.local_kind,
                self.local_handles,
                kind_en=self.local_kind_en,
                handles_en=self.local_handles_en,
            )
        return Office(unit, None, "unknown", None, None)

    def is_local_bureau(self, unit: str) -> bool:
        return unit.startswith(self.local_prefix)

    def city_names(self) -> list[str]:
        return [c.name for c in self.cities]

    def canonical_city(self, name: str | None) -> str | None:
        """Accepts 苏州, 苏州市, Suzhou or a county-level city (昆山); returns the 设区市 name or None."""
        if not name:
            return None
        key = name.strip()
        for pattern, city in self._city_patterns:
            if key.lower() == pattern.lower():
                return city
        return None

    def find_city(self, text: str) -> str | None:
        """The first Jiangsu city (or county-level city) named in normalised text."""
        low = text.lower()
        for pattern, city in self._city_patterns:
            p = pattern.lower()
            if re.fullmatch(r"[a-z' ]+", p):
                if re.search(rf"(?<![a-z]){re.escape(p)}(?![a-z])", low):
                    return city
            elif p in low:
                return city
        return None

    def bureau(self, city: str) -> str:
        return next(c.bureau for c in self.cities if c.name == city)
