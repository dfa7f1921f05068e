"""Reading a history file for back-tests on two cores: chunks planned by byte range, decoded
by a second process and by the judging one, whichever is free, and handed over in file order.

Decoding a chunk (msgspec, columns, the batch's own lookups, and the facts the rules derive
from the batch alone: ``rules.features.batch_facts``) costs about as much as judging it, so the
judge never waits while there is an undecoded chunk it could take itself.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import queue
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from rules.columns import EventBatch
from rules.engine import RuleEngine, batch_money_ids
from rules.features import batch_facts
from streams.codec import EventTimeBounds, decode_records
from streams.lists import rows_on_list

log = logging.getLogger(__name__)

# Chunks are cut by size in bytes, at the next line end: the first small, so that judging
# starts at once, then twice as large each time up to CHUNK_BYTES (about 50k events of the
# generator's ~210-byte lines; 50k balanced the two processes better than 100k in alternating runs).
FIRST_CHUNK_BYTES = 1 << 20
CHUNK_BYTES = 10 << 20


def _non_blank(lines: list[bytes]) -> list[bytes]:
    kept = list(filter(None, lines))  # empty lines, at C speed
    lengths = np.fromiter(map(len, kept), np.int64, len(kept))
    blank = {i for i in np.flatnonzero(lengths < 3).tolist() if not kept[i].strip()}  # e.g. a lone "\r"
    return [line for i, line in enumerate(kept) if i not in blank] if blank else kept


def plan_chunks(path: Path) -> list[tuple[int, int]]:
    """Byte ranges of the chunks, in file order, each ending just after a newline (or at the
    end of the file). Costs a seek and a short read per chunk, not a pass over the file."""
    total = path.stat().st_size
    ranges: list[tuple[int, int]] = []
    begin, size = 0, FIRST_CHUNK_BYTES
    with path.open("rb") as f:
        while begin < total:
            f.seek(min(begin + size, total))
            f.readline()  # on to the end of the line the cut fell in
            end = min(f.tell(), total) if begin + size < total else total
            ranges.append((begin, end))
            begin, size = end, min(size * 2, CHUNK_BYTES)
    return ranges


def read_lines(path: Path, begin: int, end: int) -> list[bytes]:
    with path.open("rb") as f:
        f.seek(begin)
        return _non_blank(f.read(end - begin).split(b"\n"))


_LABEL = attrgetter("label")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One batch and what depends on it alone (what the worker looks up before evaluating)."""

    batch: EventBatch  # without event objects: only ``label`` is needed here
    listed: np.ndarray  # per row: the counterparty is on the suspicious list
    countries: np.ndarray
    money_ids: np.ndarray
    facts: dict[str, Any]  # rules.features.batch_facts: judging starts from them
    dead_letters: int
    lines: int
    size: int  # bytes of the file it covers


def _decode_chunk(
    path: Path, span: tuple[int, int], engine: RuleEngine, suspicious: frozenset[str], bounds: EventTimeBounds | None
) -> Chunk:
    lines = read_lines(path, *span)
    # No record keys in a file; the arrival time is each event's ``received_at``, where it has one.
    decoded = decode_records(lines, None, bounds=bounds)
    batch = replace(decoded.batch, events=[], label=list(map(_LABEL, decoded.batch.events)))
    listed = rows_on_list(batch.dest or [None] * len(batch), suspicious)
    countries, _ = engine.foreign_ips(batch)
    facts = batch_facts(batch, countries, engine.ruleset.home_countries, listed)
    size = span[1] - span[0]
    return Chunk(batch, listed, countries, batch_money_ids(batch), facts, len(decoded.dead), len(lines), size)


class _Claims:
    """Which chunk is decoded next, shared by the judge and the reading process: each takes
    the next unclaimed one, so neither waits while the other has work it could share."""

    def __init__(self, ctx: Any, total: int) -> None:
        self.next = ctx.Value("i", 0)
        self.total = total

    def take(self) -> int | None:
        with self.next.get_lock():
            k = int(self.next.value)
            if k >= self.total:
                return None
            self.next.value = k + 1
            return k


def _decode_claimed(
    path: Path,
    plan: list[tuple[int, int]],
    claims: _Claims,
    engine: RuleEngine,
    suspicious: frozenset[str],
    bounds: EventTimeBounds | None,
    spool: Path,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """The reading process: decode claimed chunks, each pickled to a file in ``spool``, and
    put ``(index, file)`` on ``out``; then ``None``.

    A file (in memory when ``spool`` is on tmpfs) rather than the queue's pipe: a 10 MB
    chunk through a pipe costs the judging process 40-75 ms of reading, from a file 15-20 ms.
    """
    try:
        while (k := claims.take()) is not None:
            chunk = _decode_chunk(path, plan[k], engine, suspicious, bounds)
            file = spool / f"chunk-{k}.pickle"
            _save(chunk, file)
            out.put((k, file))
        out.put(None)
    except BaseException as exc:
        out.put(exc)
        raise


def decoded_chunks(
    path: Path, engine: RuleEngine, suspicious: frozenset[str], bounds: EventTimeBounds | None = None
) -> Iterator[Chunk]:
    """Chunks in file order. A reading process decodes chunks while this one judges; when the
    next chunk is not ready, this process decodes an unclaimed one itself instead of waiting
    (decoding costs about as much as judging, and the machine has two cores)."""
    plan = plan_chunks(path)
    ctx = mp.get_context("fork")
    claims = _Claims(ctx, len(plan))
    # Bounded: the judge drains it in order, so the reader never runs far ahead.
    delivered: mp.Queue = ctx.Queue(maxsize=3)  # type: ignore[type-arg]
    parent = _spool_parent()
    _remove_stale_spools(Path(parent or tempfile.gettempdir()))
    spool = Path(tempfile.mkdtemp(prefix=f"{_SPOOL_PREFIX}{os.getpid()}-", dir=parent))
    args = (path, plan, claims, engine, suspicious, bounds, spool, delivered)
    reader = ctx.Process(target=_decode_claimed, args=args, name="txmon-backtest-reader", daemon=True)
    reader.start()
    ready: dict[int, Chunk] = {}
    reader_done = False
    try:
        for k in range(len(plan)):
            while k not in ready:
                item = None
                if not reader_done:
                    try:
                        item = delivered.get_nowait()
                    except queue.Empty:
                        mine = claims.take()
                        if mine is not None:
                            ready[mine] = _decode_chunk(path, plan[mine], engine, suspicious, bounds)
                            continue
                        item = _get(delivered, reader)
                if item is None:
                    reader_done = True
                    if k not in ready:
                        msg = f"chunk {k} of {path} was never decoded"
                        raise RuntimeError(msg)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    ready[item[0]] = _load(item[1])
            yield ready.pop(k)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
        delivered.close()
        shutil.rmtree(spool, ignore_errors=True)


# tmpfs on Linux: the spool files never touch a disk; mkdtemp makes a private (0700) directory in it.
_SHM = Path("/dev/shm")  # noqa: S108
# At most the queue's three chunks plus the one being written wait in the spool, each pickled a
# little larger than its bytes of JSON: ask for twice that, or use the ordinary temporary folder
# (a container's /dev/shm is often 64 MB).
_SPOOL_NEEDS = 8 * CHUNK_BYTES


def _spool_parent() -> Path | None:
    try:
        if shutil.disk_usage(_SHM).free >= _SPOOL_NEEDS:
            return _SHM
    except OSError:  # no /dev/shm here
        pass
    return None  # tempfile's default


def _save(chunk: Chunk, file: Path) -> None:
    """Pickle without a memo ("fast" mode): a chunk holds no object twice that needs to stay
    one object, and no cycle, and skipping the memo of its ~200k strings makes writing a
    10 MB chunk 3x cheaper (29 ms -> 9 ms; the reading process writes two chunks in three)."""
    with file.open("wb") as f:
        pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.fast = True  # type: ignore[attr-defined]  # documented, not in the stubs
        pickler.dump(chunk)


_SPOOL_PREFIX = "txmon-backtest-"
_STALE_AFTER_S = 600


def _remove_stale_spools(parent: Path) -> None:
    """Spools of back-tests killed outright (SIGKILL, OOM: no ``finally`` ran), up to 45 MB
    each, would otherwise stay in ``/dev/shm`` until a reboot.

    One is removed when it is ours (same user), the process named in it is gone, and it has
    not changed for ten minutes. A running back-test writes and removes chunk files every
    second or so, so the last condition keeps the spool of a process this one cannot see
    (another PID namespace sharing ``/dev/shm``); a reused PID only skips the cleanup.
    """
    now = time.time()
    for spool in parent.glob(f"{_SPOOL_PREFIX}*-*"):
        pid = spool.name.removeprefix(_SPOOL_PREFIX).partition("-")[0]
        try:
            info = spool.lstat()
            if (
                not pid.isdigit()
                or not stat.S_ISDIR(info.st_mode)
                or info.st_uid != os.getuid()
                or now - info.st_mtime < _STALE_AFTER_S
                or _alive(int(pid))
            ):
                continue
            shutil.rmtree(spool)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
        log.info("removed the spool of an earlier back-test that did not end (pid %s): %s", pid, spool)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, under another user
        return True
    return True


def _load(file: Path) -> Chunk:
    with file.open("rb") as f:
        chunk: Chunk = pickle.load(f)  # noqa: S301 - written by our own reading process, in our private spool
    file.unlink()
    return chunk


def _get(delivered: mp.Queue, reader: Any) -> Any:  # type: ignore[type-arg]
    """The reading process's next item; an error if it died without saying so."""
    while True:
        try:
            return delivered.get(timeout=5)
        except queue.Empty:
            if not reader.is_alive():
                msg = f"the reading process stopped (exit code {reader.exitcode})"
                raise RuntimeError(msg) from None
