"""rules.geo: the embedded RIR data set, a MaxMind .mmdb loaded into a range table, and the factory."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import maxminddb
import numpy as np
import pytest

from rules.geo import GeoIP, RangeTable, load_geoip

# Registered countries in the RIR delegation files; stable, well-known allocations.
EMBEDDED = [
    ("14.160.0.1", "VN"),  # VNPT 14.160.0.0/11, both ends
    ("14.191.255.254", "VN"),
    ("113.160.0.1", "VN"),  # VNPT 113.160.0.0/11
    ("113.191.255.254", "VN"),
    ("27.64.0.1", "VN"),  # Viettel 27.64.0.0/12
    ("27.79.255.254", "VN"),
    ("171.224.0.1", "VN"),  # Viettel 171.224.0.0/11
    ("171.255.255.254", "VN"),
    ("1.52.0.1", "VN"),  # FPT
    ("8.8.8.8", "US"),  # Google DNS
    ("1.1.1.1", "AU"),  # Cloudflare anycast, but registered to APNIC research in Australia
    ("114.114.114.114", "CN"),
    ("223.5.5.5", "CN"),
    ("36.37.128.1", "KH"),
    ("110.74.192.1", "KH"),
    ("77.88.8.8", "RU"),  # Yandex DNS
    ("105.112.0.1", "NG"),
    ("197.210.0.1", "NG"),
    ("2001:ee0::1", "VN"),  # VNPT
    ("2402:800::1", "VN"),  # Viettel
    ("2405:4800::1", "VN"),  # FPT
    ("2001:4860:4860::8888", "US"),
    ("2606:4700:4700::1111", "US"),
    ("2a02:6b8::1", "RU"),
    ("240e::1", "CN"),
    ("::ffff:8.8.8.8", "US"),  # IPv4-mapped, as a dual-stack listener logs an IPv4 client
    ("::FFFF:14.160.0.1", "VN"),
    ("0:0:0:0:0:ffff:808:808", "US"),
]
NO_COUNTRY: list[str | None] = [
    None,
    "",
    "10.0.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "::1",
    "fe80::1",
    "2001:db8::1",
    "not-an-ip",
    "256.1.1.1",
    "1.2.3",
    " 8.8.8.8",
    "08.8.8.8",
    "8.8.8.8/32",
    "2001:ee0::1%eth0",
    "::ffff:8.8.8.8%eth0",
    "8.8.8.8\x00",
    "１.1.1.1",
]
CASES: list[tuple[str | None, str]] = [*EMBEDDED, *[(ip, "") for ip in NO_COUNTRY]]


def repeated_batch(ips: Sequence[str | None], size: int = 2_000) -> list[str | None]:
    """A batch in which every address comes back many times, in a shuffled order."""
    rng = random.Random(42)
    return [rng.choice(ips) for _ in range(size)]


@pytest.fixture(scope="module")
def embedded() -> GeoIP:
    return GeoIP()


@pytest.mark.parametrize(("ip", "expected"), CASES)
def test_embedded_country(embedded: GeoIP, ip: str | None, expected: str) -> None:
    got = embedded.countries([ip])
    assert got.dtype == np.dtype("<U2")
    assert got.tolist() == [expected]


def test_embedded_batch_with_repeats_equals_per_item(embedded: GeoIP) -> None:
    batch = repeated_batch([ip for ip, _ in CASES])
    per_item = [embedded.countries([ip])[0] for ip in batch]
    got = embedded.countries(batch)
    assert got.shape == (len(batch),)
    assert got.tolist() == per_item
    assert got.tolist() == [dict(CASES)[ip] for ip in batch]


def test_other_sequences_and_empty_batch(embedded: GeoIP) -> None:
    numpy_strings = list(np.array(["8.8.8.8", "14.160.0.1", "x"]))  # np.str_ items, as a column yields them
    assert embedded.countries(numpy_strings).tolist() == ["US", "VN", ""]
    assert embedded.countries(("2001:ee0::1", None)).tolist() == ["VN", ""]
    empty = embedded.countries([])
    assert empty.shape == (0,)
    assert empty.dtype == np.dtype("<U2")


def test_factory_defaults_to_embedded_data() -> None:
    geo = load_geoip(None)
    assert geo.source.startswith("iptocc ")
    assert geo.countries(["8.8.8.8"]).tolist() == ["US"]


# ---- MaxMind .mmdb ------------------------------------------------------------------------------------------------


def country(code: str) -> dict[str, Any]:
    """A record shaped like GeoIP2-Country's."""
    names = {lang: f"{code} ({lang})" for lang in ("de", "en", "ja", "zh-CN")}
    place = {"geoname_id": 1_000 + ord(code[0]), "iso_code": code, "names": names}
    return {"continent": {"code": "AS", "names": names}, "country": place, "registered_country": place}


NETWORKS: list[tuple[str, dict[str, Any]]] = [
    ("14.160.0.0/11", country("VN")),
    ("113.160.0.0/12", country("VN")),  # two neighbours of one country: merged into one range
    ("113.176.0.0/12", country("VN")),
    ("8.8.8.0/24", country("US")),
    ("1.1.1.0/24", {"registered_country": {"iso_code": "AU"}}),  # no ``country``: falls back
    ("5.255.255.0/24", {"continent": {"code": "EU"}}),  # no country at all
    ("2001:ee0::/32", country("VN")),
    ("2001:4860::/32", country("US")),
]
MMDB_CASES: list[tuple[str | None, str]] = [
    ("14.160.0.0", "VN"),
    ("14.191.255.255", "VN"),
    ("14.192.0.0", ""),  # just past the range
    ("14.159.255.255", ""),
    ("113.175.255.255", "VN"),
    ("113.176.0.0", "VN"),
    ("8.8.8.8", "US"),
    ("8.8.9.1", ""),
    ("1.1.1.1", "AU"),
    ("5.255.255.5", ""),
    ("2001:ee0:1234::1", "VN"),
    ("2001:4860:4860::8888", "US"),
    ("2001:4861::1", ""),
    ("::ffff:8.8.8.8", "US"),  # MaxMind aliases ::ffff:0:0/96 to the IPv4 tree; so do we
    ("0.0.0.0", ""),
    ("255.255.255.255", ""),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""),
    (None, ""),
    ("", ""),
    ("not-an-ip", ""),
    ("8.8.8", ""),
    ("2001:ee0::1%eth0", ""),
]


def write_mmdb(path: Path, networks: list[tuple[str, dict[str, Any]]]) -> Path:
    writer_module = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    writer = writer_module.MMDBWriter(
        ip_version=6, database_type="GeoLite2-Country", languages=["en"], description="test", ipv4_compatible=True
    )
    for network, record in networks:
        writer.insert_network(netaddr.IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture(scope="module")
def mmdb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mmdb(tmp_path_factory.mktemp("mmdb") / "country.mmdb", NETWORKS)


@pytest.fixture(scope="module")
def from_mmdb(mmdb_file: Path) -> GeoIP:
    return GeoIP.from_mmdb(mmdb_file)


@pytest.mark.parametrize(("ip", "expected"), MMDB_CASES)
def test_mmdb_country(from_mmdb: GeoIP, ip: str | None, expected: str) -> None:
    got = from_mmdb.countries([ip])
    assert got.dtype == np.dtype("<U2")
    assert got.tolist() == [expected]


def test_mmdb_agrees_with_the_reader_and_batches_equal_items(from_mmdb: GeoIP, mmdb_file: Path) -> None:
    rng = random.Random(7)
    ips: list[str] = []
    for network, _ in NETWORKS:  # both ends of every network, the addresses either side, and one inside
        net = ip_network(network)
        for offset in (-1, 0, rng.randrange(net.num_addresses), net.num_addresses - 1, net.num_addresses):
            ips.append(str(net.network_address + offset))
    with maxminddb.open_database(mmdb_file) as reader:
        records: dict[str, Any] = {ip: reader.get(ip) or {} for ip in ips}
    expected: dict[str | None, str] = {
        ip: (r.get("country") or r.get("registered_country") or {}).get("iso_code", "") for ip, r in records.items()
    }
    assert sorted(set(expected.values())) == ["", "AU", "US", "VN"]
    batch = repeated_batch(ips)
    got = from_mmdb.countries(batch)
    assert got.tolist() == [expected[ip] for ip in batch]
    assert got.tolist() == [from_mmdb.countries([ip])[0] for ip in batch]


def test_mmdb_source_and_factory(mmdb_file: Path) -> None:
    geo = load_geoip(str(mmdb_file))
    assert geo.source.startswith("GeoLite2-Country built ")
    assert geo.countries(["14.160.0.1", "8.8.8.8", "2001:ee0::1"]).tolist() == ["VN", "US", "VN"]


def test_mmdb_without_countries_is_refused(tmp_path: Path) -> None:
    path = write_mmdb(tmp_path / "asn.mmdb", [("8.8.8.0/24", {"autonomous_system_number": 15169})])
    with pytest.raises(ValueError, match="no network has a country"):
        GeoIP.from_mmdb(path)


class FakeReader:
    """What ``maxminddb.open_database`` returns, for when no .mmdb writer is installed."""

    def __init__(self, networks: list[tuple[str, dict[str, Any]]]) -> None:
        self.networks = networks

    def __enter__(self) -> FakeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        return ((ip_network(net), record) for net, record in self.networks)

    def metadata(self) -> Any:
        return type("Metadata", (), {"database_type": "GeoIP2-Country", "build_epoch": 1_764_288_000})()


def test_mmdb_loader_with_a_mocked_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maxminddb, "open_database", lambda path: FakeReader(NETWORKS))
    geo = GeoIP.from_mmdb("licensed.mmdb")
    assert geo.source == "GeoIP2-Country built 2025-11-28 (licensed.mmdb)"
    assert geo.countries([ip for ip, _ in MMDB_CASES]).tolist() == [code for _, code in MMDB_CASES]


def test_range_table_merges_neighbours_and_handles_empty() -> None:
    table = RangeTable((ip_network(net), code) for net, code in [("10.0.0.0/9", "VN"), ("10.128.0.0/9", "VN")])
    assert len(table) == 1
    assert table.lookup(["10.0.0.0", "10.255.255.255", "11.0.0.0"]).tolist() == ["VN", "VN", ""]
    assert RangeTable([]).lookup(["8.8.8.8", None]).tolist() == ["", ""]
