"""IP address → ISO country code, offline, for a whole batch at once.

Signal support for R6a (Hanoi plan III.8: "detect, classify and warn about
accounts transacting from foreign IP addresses"). The embedded data set is the
``iptocc`` package (Rust, built from the regional internet registries'
delegation files); a bank with a MaxMind licence can load a Country ``.mmdb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

Countries = npt.NDArray[np.str_]


class GeoIP:
    """Embedded RIR-based lookup; ``countries`` returns '' for missing or unknown addresses."""

    def countries(self, ips: Sequence[str | None]) -> Countries:
        import iptocc

        codes = iptocc.country_code([ip or "" for ip in ips])
        return np.array([c or "" for c in codes], dtype="<U2")


class MaxMindGeoIP(GeoIP):
    def __init__(self, path: str) -> None:
        import maxminddb

        self._reader = maxminddb.open_database(path)
        self._lookup = lru_cache(maxsize=65_536)(self._one)

    def _one(self, ip: str) -> str:
        try:
            record = self._reader.get(ip)
        except ValueError:
            return ""
        if not isinstance(record, dict):
            return ""
        country = record.get("country") or record.get("registered_country") or {}
        code = country.get("iso_code", "") if isinstance(country, dict) else ""
        return str(code)

    def countries(self, ips: Sequence[str | None]) -> Countries:
        return np.array([self._lookup(ip) if ip else "" for ip in ips], dtype="<U2")


def load_geoip(mmdb_path: str | None = None) -> GeoIP:
    return MaxMindGeoIP(mmdb_path) if mmdb_path else GeoIP()
