"""A persistent cache of per-file facts, safe to load from anywhere.

An entry is keyed by the file's content hash, conclint's version and everything else the
facts depend on (module name, package-ness). A stat index (size, mtime) lets an unchanged
file skip even the hashing. Every entry (facts, located spans, whole-run results and the
index) carries an HMAC made with a random per-user key kept outside the project
(``$XDG_CACHE_HOME/conclint/key``): entries that a checkout brings along, or another user
wrote, fail the check and are rebuilt, so a committed cache cannot forge a clean result.
Facts are pickles read by an unpickler that can only build conclint's fact classes and
plain containers; a corrupt, truncated, foreign or hostile entry is ignored and rebuilt,
never trusted and never executed.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import pickle
import re
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import asdict
from typing import TypeVar

from conclint import __version__
from conclint.extract import facts as facts_module
from conclint.diagnostics import Diagnostic, Finding, Related, Step
from conclint.extract.decode import read_bytes
from conclint.extract.facts import ExtractResult, FileError, ModuleFacts, Span

T = TypeVar("T")

FORMAT = 8  # 2: value-flow facts (lifecycle); 3: shared-state uses (races); 4: signed entries;
# 5: compacted (read-only, shared) facts; 6: facts pickled as constructor calls; 7: names;
# 8: only the names that decide which call sites are resolved
_MAGIC = b"conclint-facts\n"
_SPANS_MAGIC = b"conclint-spans2\n"  # by ordinal, maybe not all
_RUN_MAGIC = b"conclint-run\n"
_FINDINGS_MAGIC = b"conclint-findings\n"
_INDEX_MAGIC = b"conclint-index\n"
_CALLS_MAGIC = b"conclint-calls\n"
_COMMENTS_MAGIC = b"conclint-comments\n"
_KEY = re.compile(r"[0-9a-f]{64}")
_MAC_BYTES = 32
_ALLOWED_BUILTINS = frozenset({"set", "frozenset", "dict", "list", "tuple", "str", "int",
                               "float", "bool", "complex", "bytes"})
_ALLOWED_FACTS = frozenset(
    name for name in dir(facts_module) if isinstance(getattr(facts_module, name), type)
) | {"EMPTY_MAP"}


class _FactsUnpickler(pickle.Unpickler):
    """Builds only fact dataclasses and builtin containers; anything else is refused."""

    def find_class(self, module: str, name: str) -> object:
        if module == "builtins" and name in _ALLOWED_BUILTINS:
            return super().find_class(module, name)
        if module == facts_module.__name__ and name in _ALLOWED_FACTS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def secret_key() -> bytes:
    """The per-user key that signs cache entries, created on first use (mode 0600) in
    ``$XDG_CACHE_HOME/conclint`` (default ``~/.cache/conclint``). Without a writable home a
    key for this run only is used: nothing is reused, nothing is trusted."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "conclint", "key")
    for _ in range(2):
        try:
            with open(path, "rb") as handle:
                key = handle.read()
            if len(key) == 32:
                return key
            os.unlink(path)  # a truncated key: replace it
        except OSError:
            pass
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(os.urandom(32))
        except FileExistsError:
            continue  # another run created it meanwhile: read theirs
        except OSError:
            break
    return os.urandom(32)


def seal(magic: bytes, payload: bytes, key: bytes) -> bytes:
    return magic + hmac.new(key, payload, hashlib.sha256).digest() + payload


def unseal(magic: bytes, blob: bytes, key: bytes) -> bytes | None:
    """The payload of a sealed blob, or None when it is not intact and signed with ``key``."""
    head = len(magic) + _MAC_BYTES
    if not blob.startswith(magic) or len(blob) < head:
        return None
    payload = blob[head:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()
    return payload if hmac.compare_digest(expected, blob[len(magic):head]) else None


def _signature(magic: bytes, blob: bytes) -> str:
    """The HMAC a sealed blob carries: a digest of its payload."""
    return blob[len(magic):len(magic) + _MAC_BYTES].hex()


def encode(facts: ExtractResult, key: bytes) -> bytes:
    return seal(_MAGIC, pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL), key)


def decode(blob: bytes, key: bytes) -> ExtractResult | None:
    """The facts in ``blob``, or None when it is not an intact, signed entry of this format."""
    payload = unseal(_MAGIC, blob, key)
    if payload is None:
        return None
    try:
        value = _FactsUnpickler(io.BytesIO(payload)).load()
    except Exception:  # noqa: BLE001 - any failure means: not a usable entry
        return None
    return value if isinstance(value, (ModuleFacts, FileError)) else None


def code_fingerprint() -> str:
    """A hash of conclint's own source: a development build with changed rules or extraction
    must not reuse results of the code it replaced, even under the same version number."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256(__version__.encode())
    for directory, dirnames, filenames in sorted(os.walk(package)):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                with open(os.path.join(directory, name), "rb") as handle:
                    digest.update(name.encode() + handle.read())
    return digest.hexdigest()[:16]


class FactsCache:
    """Facts by content, in ``directory``; ``save`` persists the stat index."""

    def __init__(self, directory: str, key: bytes | None = None) -> None:
        self.directory = directory
        self._key = key if key is not None else secret_key()
        self._salt = f"{__version__}/{FORMAT}/{code_fingerprint()}"
        salt_id = hashlib.sha256(self._salt.encode()).hexdigest()[:16]
        self._index_path = os.path.join(directory, f"index-{salt_id}")
        self._calls_path = os.path.join(directory, f"calls-{salt_id}")
        self._index: dict[str, list[object]] = self._load_index()
        self._dirty = False
        self._prepared = False
        self.hits = 0
        self.misses = 0
        self._digests: dict[str, str] = {}  # entry key -> signature of its facts' pickle

    def _load_index(self) -> dict[str, list[object]]:
        try:
            with open(self._index_path, "rb") as handle:
                payload = unseal(_INDEX_MAGIC, handle.read(), self._key)
            data = json.loads(payload) if payload is not None else {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def key(self, path: str, module: str, is_package: bool) -> str | None:
        """The entry key of a file: from the stat index when unchanged, else by hashing."""
        absolute = os.path.abspath(path)
        try:
            stat = os.stat(absolute)
        except OSError:
            return None
        stamp: list[object] = [stat.st_size, stat.st_mtime_ns, module, is_package]
        known = self._index.get(absolute)
        if isinstance(known, list) and known[:4] == stamp and isinstance(known[-1], str) \
                and _KEY.fullmatch(known[-1]):
            return known[-1]
        data = read_bytes(absolute)
        if isinstance(data, FileError):
            return None  # unreadable, or not a regular file: never cached
        digest = hashlib.sha256(data)
        digest.update(f"\0{self._salt}|{module}|{is_package}".encode())
        key = digest.hexdigest()
        self._index[absolute] = [*stamp, key]
        self._dirty = True
        return key

    def _entry(self, key: str) -> str:
        if not _KEY.fullmatch(key):  # only ever a sha256 hex digest: never a path
            raise ValueError(f"not a cache key: {key!r}")
        return os.path.join(self.directory, "facts", key[:2], key)

    def has(self, key: str) -> bool:
        """Whether an entry exists (``get`` still checks that it is intact and signed)."""
        return os.path.exists(self._entry(key))

    def get(self, key: str, path: str) -> ExtractResult | None:
        try:
            with open(self._entry(key), "rb") as handle:
                blob = handle.read()
            facts = decode(blob, self._key)
        except OSError:
            facts = None
        if facts is None:
            self.misses += 1
            return None
        self.hits += 1
        self._digests[key] = _signature(_MAGIC, blob)
        if isinstance(facts, FileError):
            return FileError(path, facts.kind, facts.message, facts.line, facts.column)
        facts.path = path
        return facts

    def get_spans(self, key: str) -> tuple[dict[int, Span], bool] | None:
        """Located nodes of a file by ordinal, and whether that is all of its nodes (see
        ``conclint.locate``), when cached intact."""
        try:
            with open(self._entry(key) + ".spans", "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        payload = unseal(_SPANS_MAGIC, blob, self._key)
        if payload is None or len(payload) % 4 or (len(payload) // 4) % 5 != 1:
            return None
        numbers = array("i")
        numbers.frombytes(payload)
        spans = {numbers[i]: Span(*numbers[i + 1:i + 5]) for i in range(1, len(numbers), 5)}
        return spans, bool(numbers[0])

    def put_spans(self, key: str, spans: dict[int, Span], complete: bool) -> None:
        numbers = array("i", [int(complete)])
        for loc, s in spans.items():
            numbers.extend((loc, s.line, s.column, s.end_line, s.end_column))
        payload = numbers.tobytes()
        self._prepare()
        _atomic_write(self._entry(key) + ".spans", seal(_SPANS_MAGIC, payload, self._key))

    def put(self, key: str, facts: ExtractResult) -> None:
        self._prepare()
        blob = encode(facts, self._key)
        self._digests[key] = _signature(_MAGIC, blob)
        _atomic_write(self._entry(key), blob)

    def facts_digest(self, key: str) -> str | None:
        """What the facts of the entry ``key`` are (two files with the same facts, say before
        and after a comment was edited, have the same digest); None when not known."""
        return self._digests.get(key)

    def get_findings(self, findings_key: str) -> list[Finding] | None:
        """The rules' findings (not yet located) of an earlier run over the same facts."""
        return self._get_records(findings_key, ".findings", _FINDINGS_MAGIC, Finding, Step)

    def put_findings(self, findings_key: str, findings: list[Finding]) -> None:
        self._put_records(findings_key, ".findings", _FINDINGS_MAGIC, findings)

    def run_key(self, keys: list[str], settings: str) -> str:
        """The identity of a whole run: every file's key, its path, and the settings."""
        digest = hashlib.sha256(f"{self._salt}\0{settings}".encode())
        for key in keys:
            digest.update(key.encode() + b"\0")
        return digest.hexdigest()

    def get_run(self, run_key: str) -> list[Diagnostic] | None:
        """The diagnostics of an identical earlier run."""
        return self._get_records(run_key, ".run", _RUN_MAGIC, Diagnostic, Related)

    def put_run(self, run_key: str, diagnostics: list[Diagnostic]) -> None:
        self._put_records(run_key, ".run", _RUN_MAGIC, diagnostics)

    def _get_records(self, key: str, suffix: str, magic: bytes, record: type[T],
                     step: type) -> list[T] | None:
        """Records with a ``related`` tuple, stored as signed JSON (nothing can execute)."""
        rows = self._get_json(key, suffix, magic)
        if not isinstance(rows, list):
            return None
        try:
            return [record(**{**row, "related": tuple(step(**r) for r in row["related"])})
                    for row in rows]
        except (TypeError, ValueError, KeyError):
            return None

    def _put_records(self, key: str, suffix: str, magic: bytes,
                     records: Sequence[Finding | Diagnostic]) -> None:
        rows = [{**asdict(r), "related": [asdict(s) for s in r.related]} for r in records]
        self._put_json(key, suffix, magic, rows)

    def comments_key(self, data: bytes) -> str:
        """The entry key of a file's comments (``conclint.suppress``): its bytes decide them."""
        digest = hashlib.sha256(data)
        digest.update(f"\0{self._salt}|comments".encode())
        return digest.hexdigest()

    def get_comments(self, key: str) -> object:
        """What ``put_comments`` stored under ``key`` (plain JSON), or None."""
        return self._get_json(key, ".comments", _COMMENTS_MAGIC)

    def put_comments(self, key: str, value: object) -> None:
        self._put_json(key, ".comments", _COMMENTS_MAGIC, value)

    def _get_json(self, key: str, suffix: str, magic: bytes) -> object:
        """A signed JSON entry beside the facts of ``key``; None when absent or not intact."""
        try:
            with open(self._entry(key) + suffix, "rb") as handle:
                payload = unseal(magic, handle.read(), self._key)
            return json.loads(payload) if payload is not None else None
        except (OSError, ValueError):
            return None

    def _put_json(self, key: str, suffix: str, magic: bytes, value: object) -> None:
        self._prepare()
        _atomic_write(self._entry(key) + suffix, seal(magic, json.dumps(value).encode(), self._key))

    def get_call_graph(self) -> dict[str, tuple]:
        """The call graph records the last run left (``conclint.analyses.call_memory``):
        plain tuples, loaded by the same guarded unpickler as facts; {} when none is usable."""
        try:
            with open(self._calls_path, "rb") as handle:
                payload = unseal(_CALLS_MAGIC, handle.read(), self._key)
            records = _FactsUnpickler(io.BytesIO(payload)).load() if payload else {}
        except Exception:  # noqa: BLE001 - any failure means: not a usable entry
            return {}
        return records if isinstance(records, dict) else {}

    def put_call_graph(self, records: dict[str, tuple]) -> None:
        self._prepare()
        payload = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
        _atomic_write(self._calls_path, seal(_CALLS_MAGIC, payload, self._key))

    def save(self) -> None:
        if self._dirty:
            self._prepare()
            _atomic_write(self._index_path,
                          seal(_INDEX_MAGIC, json.dumps(self._index).encode(), self._key))
            self._dirty = False

    def _prepare(self) -> None:
        if not self._prepared:
            self._prepared = True
            _write_tag(self.directory)


def _atomic_write(path: str, data: bytes) -> None:
    """Write via a temporary file and rename, so readers never see half an entry."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only or full disk only costs speed


def _write_tag(directory: str) -> None:
    """Mark the cache folder so backup tools and git leave it alone."""
    tag = os.path.join(directory, "CACHEDIR.TAG")
    if not os.path.exists(tag):
        try:
            os.makedirs(directory, exist_ok=True)
            with open(tag, "w", encoding="utf-8") as out:
                out.write("Signature: 8a477f597d28d172789f06886806bc55\n"
                          "# This folder is a cache of conclint (https://github.com/conclint).\n")
            with open(os.path.join(directory, ".gitignore"), "w", encoding="utf-8") as out:
                out.write("*\n")
        except OSError:
            pass
