"""IP address → ISO 3166-1 country code for whole batches of events, offline.

DOMAIN: foreign-IP detection (R6a, Hanoi plan III.8: "detect, classify and warn about accounts transacting from
foreign IP addresses") needs each event's country, which comes by default from the ``iptocc`` package (MIT OR
Apache-2.0), built from the five regional internet registries' public delegated-extended statistics (the country
each block is registered to; the data is as new as the installed release), or from a MaxMind GeoIP2/GeoLite2
Country ``.mmdb`` that the bank licenses.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from ipaddress import IPv4Network, IPv6Address, IPv6Network
from os import PathLike
from typing import Any

import iptocc
import numpy as np
import numpy.typing as npt

Countries = npt.NDArray[np.str_]
Network = IPv4Network | IPv6Network
# Countries of a batch of address strings, in order; '' where there is none.
Lookup = Callable[[Sequence[str | None]], Countries]

# One 128-bit key space for both families: IPv4 a.b.c.d is ::a.b.c.d, where MaxMind's IPv6 trees keep IPv4.
_V4_PAD = bytes(12)
_V4_MAPPED = bytes(10) + b"\xff\xff"
_KEY = np.dtype("S16")  # big-endian bytes compare in numeric order, so numpy can sort and search them
_NO_KEY = bytes(16)  # placeholder for unparsable strings; masked out, never looked up


def _unmapped(ip: str) -> str | None:
    """'1.2.3.4' for an IPv4-mapped IPv6 string ('::ffff:1.2.3.4', as dual-stack listeners log IPv4 clients)."""
    if ":" not in ip or "%" in ip:
        return None
    try:
        mapped = IPv6Address(ip).ipv4_mapped
    except ValueError:
        return None
    return str(mapped) if mapped else None


def _embedded_lookup(ips: Sequence[str | None]) -> Countries:
    # iptocc parses and searches in Rust, ~0.1 µs an address: less than de-duplicating the batch first would cost.
    codes: list[str | None] = iptocc.country_code([ip or "" for ip in ips])
    out = np.array([c or "" for c in codes], dtype="<U2")
    # Misses (events without an IP; private, reserved, invalid addresses) are found at C speed; only
    # IPv6-looking ones pay for the IPv4-mapped retry.
    for i in np.flatnonzero(out == "").tolist():
        ip = ips[i]
        if ip and ":" in ip:
            v4 = _unmapped(ip)
            out[i] = (iptocc.country_code(v4) if v4 else None) or ""
    return out


def _key(ip: str) -> bytes | None:
    """The 16-byte search key of an address string, or None if it is not a plain IPv4 or IPv6 address."""
    try:
        if ":" not in ip:
            # inet_pton, unlike inet_aton, rejects '1.2.3', '010.1.1.1' and spaces, as iptocc does.
            return _V4_PAD + socket.inet_pton(socket.AF_INET, ip)
        packed = socket.inet_pton(socket.AF_INET6, ip)
    except (OSError, ValueError):  # ValueError: embedded NUL or non-ASCII
        return None
    return _V4_PAD + packed[12:] if packed[:12] == _V4_MAPPED else packed


def _iso_code(record: Any) -> str:
    """The record's country, else the country it is registered to (MaxMind leaves ``country`` out for some)."""
    for field in ("country", "registered_country"):
        try:
            code = record[field]["iso_code"]
        except (KeyError, TypeError):  # no such field, or not a map (an ASN database, say)
            continue
        if isinstance(code, str) and len(code) == 2:
            return code.upper()
    return ""


class RangeTable:
    """Disjoint address ranges with a country each, searched for a whole batch with one ``np.searchsorted``."""

    def __init__(self, networks: Iterable[tuple[Network, str]]) -> None:
        runs: list[list[Any]] = []  # [first, last, code]
        for network, code in networks:
            first = int(network.network_address)
            last = first + (1 << (network.max_prefixlen - network.prefixlen)) - 1  # num_addresses is 10x slower
            # Neighbouring networks of one country become one range: the table shrinks and searches get shorter.
            if runs and runs[-1][2] == code and runs[-1][1] + 1 == first:
                runs[-1][1] = last
            else:
                runs.append([first, last, code])
        starts = np.array([r[0].to_bytes(16, "big") for r in runs], dtype=_KEY)
        order = np.argsort(starts, kind="stable")  # a tree walk yields address order; sorting costs little to be sure
        self._starts = starts[order]
        self._ends = np.array([r[1].to_bytes(16, "big") for r in runs], dtype=_KEY)[order]
        self._codes = np.array([r[2] for r in runs], dtype="<U2")[order]

    def __len__(self) -> int:
        return len(self._starts)

    def lookup(self, ips: Sequence[str | None]) -> Countries:
        if not len(self._starts):
            return np.full(len(ips), "", dtype="<U2")
        # A batch repeats addresses (one customer, one session), and parsing in Python costs more than
        # de-duplicating, so each distinct string is parsed and searched once.
        distinct = dict.fromkeys(ips)  # C loops, as in rules.columns.factorize
        index = {ip: i for i, ip in enumerate(distinct)}
        inverse = np.fromiter(map(index.__getitem__, ips), dtype=np.intp, count=len(ips))
        keys = [_key(ip) if ip else None for ip in distinct]
        valid = np.fromiter((k is not None for k in keys), dtype=bool, count=len(keys))
        packed = np.frombuffer(b"".join(k or _NO_KEY for k in keys), dtype=_KEY)
        pos = np.searchsorted(self._starts, packed, side="right") - 1
        found = valid & (pos >= 0)
        pos = np.maximum(pos, 0)
        found &= packed <= self._ends[pos]  # the last range starting below may end before the address (a gap)
        return np.where(found, self._codes[pos], "")[inverse]


class GeoIP:
    """Countries of IP address strings, batch in, ``'<U2'`` array out, '' for missing, invalid or unknown."""

    def __init__(self, lookup: Lookup | None = None, source: str | None = None) -> None:
        if lookup is None:
            lookup, source = _embedded_lookup, source or f"iptocc {version('iptocc')} (RIR delegated statistics)"
        self._lookup = lookup
        # For the start-up log, so an alert can be traced to the data that placed its address.
        self.source = source or "custom lookup"

    @classmethod
    def from_mmdb(cls, path: str | PathLike[str]) -> GeoIP:
        """Loads a MaxMind Country (or City) ``.mmdb`` once into a range table; the file is closed afterwards.

        Walking the whole tree costs a few seconds at start-up, but then a new address costs a fraction of a
        microsecond instead of the ~4 µs ``Reader.get`` spends decoding a full country record.
        """
        import maxminddb  # only banks with a MaxMind licence pay for the import

        with maxminddb.open_database(path) as reader:
            meta = reader.metadata()
            table = RangeTable((net, code) for net, record in reader if (code := _iso_code(record)))
        if not len(table):
            msg = f"{path}: no network has a country ISO code; is it a Country or City database?"
            raise ValueError(msg)
        built = datetime.fromtimestamp(meta.build_epoch, tz=UTC).date().isoformat()
        return cls(table.lookup, f"{meta.database_type} built {built} ({path})")

    def countries(self, ips: Sequence[str | None]) -> Countries:
        if not len(ips):
            return np.empty(0, dtype="<U2")
        return self._lookup(ips)


def load_geoip(mmdb_path: str | None = None) -> GeoIP:
    """The MaxMind database at ``mmdb_path`` if one is given, else the embedded RIR data set."""
    return GeoIP.from_mmdb(mmdb_path) if mmdb_path else GeoIP()
