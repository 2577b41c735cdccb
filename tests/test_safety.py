"""conclint never imports, executes or evaluates the code it checks; it writes only to its
cache directory (and its per-user key) and to ``--output``; its cache never trusts an entry
it cannot verify, and never runs code from one."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conclint.discover import discover
from conclint.extract import cache as cache_module
from conclint.extract.cache import FactsCache
from conclint.extract.facts import ModuleFacts
from conclint.extract.parallel import extract_files
from tests.helpers import FIXTURES, run_json, run_main

MARKER_CODE = "open({marker!r}, 'w').write('{why}')\n"


def booby_trapped_project(root: Path, marker: Path) -> None:
    """A project every part of which would create ``marker`` if it were imported, executed,
    evaluated or installed: modules, package ``__init__``, ``setup.py``, ``conftest.py``,
    ``sitecustomize``/``usercustomize``, a ``.pth`` file, shadows of conclint's own
    dependencies, an ``__main__``, decorators, default arguments, class bodies, annotations
    (PEP 563 strings too), a codec cookie and ``__getattr__`` hooks."""
    def trap(why: str) -> str:
        return MARKER_CODE.format(marker=str(marker), why=why)

    (root / "pyproject.toml").write_text(
        "[project]\nname = 'trap'\n[build-system]\nrequires = []\n"
        "build-backend = 'backend'\nbackend-path = ['.']\n")
    package = root / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(trap("package init") + "import threading\n")
    (package / "__main__.py").write_text(trap("main"))
    (package / "models.py").write_text(
        "from __future__ import annotations\nimport threading\n" + trap("module body") +
        "def deco(f):\n    " + trap("decorator") + "    return f\n\n"
        "@deco\ndef step(x=" + f"open({str(marker)!r}, 'w')" + ") -> 'Ann':\n"
        "    lock = threading.Lock()\n    with lock:\n        pass\n\n"
        "class Model:\n    " + trap("class body") + "    field: eval('1') = 1\n\n"
        "def __getattr__(name):\n    " + trap("module getattr") + "\n")
    for name in ("setup.py", "conftest.py", "sitecustomize.py", "usercustomize.py",
                 "backend.py", "libcst.py", "networkx.py", "rich.py", "tomllib.py",
                 "typing_extensions.py", "threading.py", "queue.py"):
        (root / name).write_text(trap(name))
    (root / "trap.pth").write_text("import os; " + trap(".pth").strip() + "\n")
    (root / "cookie.py").write_text("# -*- coding: trapcodec -*-\nx = 1\n")


def test_analysed_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    project = tmp_path / "project"
    project.mkdir()
    booby_trapped_project(project, marker)
    script = str(Path(sys.executable).with_name("conclint"))
    module = [sys.executable, "-m", "conclint"]  # puts the working directory on sys.path
    for command in ([script, "--no-cache", "."], [script, "-j", "1", "--no-cache", "."],
                    [script, "pkg/models.py"], [script, "graph", "."],
                    [*module, "--format", "sarif", "--no-cache", "."], [*module, "-j", "1", "."]):
        ran = subprocess.run(command, cwd=project, capture_output=True, text=True,
                             timeout=300)
        assert ran.returncode in (0, 1), ran.stderr
        assert "Traceback" not in ran.stderr
        assert not marker.exists(), (command, marker.read_text())
    code, diagnostics = run_json("--no-project", ".", cwd=project)
    assert not marker.exists()
    assert ("cookie.py", "CL001") in {(d["path"], d["code"]) for d in diagnostics}
    assert code == 1


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder under ``root`` with its size, mtime and mode."""
    seen = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            seen[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns,
                                                 oct(info.st_mode))
    return seen


def test_writes_only_to_the_cache_the_key_and_the_output(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES, project / "fixtures")
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    before = snapshot(tmp_path)
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(scratch), "XDG_CACHE_HOME": "",
           "CONCLINT_CACHE_DIR": ""}
    command = [sys.executable, "-m", "conclint"]
    for args in (["fixtures"], ["fixtures"], ["--format", "sarif", "--output", "report.sarif",
                                              "fixtures/demo/metrics.py"]):
        ran = subprocess.run([*command, *args], cwd=project, env=env, capture_output=True,
                             timeout=300)
        assert ran.returncode == 1, ran.stderr
    after = snapshot(tmp_path)
    changed = {path for path in after if before.get(path) != after[path]}
    changed |= set(before) - set(after)
    allowed = ("project/.conclint_cache", "home/.cache", "project/report.sarif")
    assert changed and all(p in ("project", "home") or p.startswith(allowed)
                           for p in changed), sorted(changed)
    assert not [p for p in changed if p.startswith("project/fixtures")]
    assert os.listdir(scratch) == []
    assert "home/.cache/conclint/key" in changed
    assert after["home/.cache/conclint/key"][2] == oct(0o100600)


# --------------------------------------------------------------------------- the cache
@pytest.fixture()
def filled(tmp_path: Path) -> tuple[FactsCache, list, Path]:
    files = discover([str(FIXTURES / "demo")])
    key = b"k" * 32
    cache = FactsCache(str(tmp_path / "cache"), key=key)
    extract_files(files, 1, cache)
    return FactsCache(str(tmp_path / "cache"), key=key), files, tmp_path / "cache"


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "facts").rglob("*") if p.is_file())


def hits(cache: FactsCache, files) -> tuple[int, list]:
    results = extract_files(files, 1, cache)
    assert all(isinstance(r, ModuleFacts) for r in results)
    return cache.hits, results


def test_an_intact_cache_is_used(filled) -> None:
    cache, files, _ = filled
    count, _ = hits(cache, files)
    assert count == len(files)


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage", "old format"])
def test_damaged_entries_are_ignored_and_rebuilt(filled, damage: str) -> None:
    cache, files, folder = filled
    reference = extract_files(files, 1, None)
    for path in entries(folder):
        data = path.read_bytes()
        path.write_bytes({
            "truncate": data[: len(data) // 2],
            "flip": data[:-1] + bytes([data[-1] ^ 1]),
            "empty": b"",
            "garbage": os.urandom(len(data)),
            "old format": b"conclint-facts\n" + data[len(cache_module._MAGIC) + 32:],
        }[damage])
    count, results = hits(FactsCache(str(folder), key=b"k" * 32), files)
    assert count == 0
    assert [r.functions for r in results] == [r.functions for r in reference]


def test_entries_signed_with_another_key_are_not_trusted(filled) -> None:
    """A cache committed to a repository (or written by another user) cannot make conclint
    report wrong facts: even perfectly formed entries need this user's key."""
    _, files, folder = filled
    count, _ = hits(FactsCache(str(folder), key=b"x" * 32), files)
    assert count == 0


def test_a_malicious_pickle_with_a_valid_signature_is_refused(filled, tmp_path: Path) -> None:
    """Even an entry signed with the right key (its key stolen) cannot run code: the
    unpickler builds only fact classes and plain containers."""
    cache, files, folder = filled
    marker = tmp_path / "PWNED"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for payload in (pickle.dumps(Exploit()),
                    pickle.dumps(Exploit(), protocol=0),
                    b"cbuiltins\neval\n(S'__import__(\"os\").system(\"touch " +
                    str(marker).encode() + b"\")'\ntR."):
        for path in entries(folder):
            if not path.suffix:
                path.write_bytes(cache_module.seal(cache_module._MAGIC, payload, b"k" * 32))
        count, _ = hits(FactsCache(str(folder), key=b"k" * 32), files)
        assert count == 0 and not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        cache_module._FactsUnpickler(io.BytesIO(pickle.dumps(Exploit()))).load()


def test_a_forged_index_cannot_point_outside_the_cache(filled, tmp_path: Path) -> None:
    cache, files, folder = filled
    cache._index = {os.path.abspath(f.path): [os.path.getsize(f.path),
                                              os.stat(f.path).st_mtime_ns, f.module,
                                              f.is_package, "../../../escaped"]
                    for f in files}
    cache._dirty = True
    cache.save()
    reloaded = FactsCache(str(folder), key=b"k" * 32)
    extract_files(files, 1, reloaded)
    assert not list(tmp_path.rglob("escaped*"))
    assert reloaded.hits == len(files)  # the forged keys were ignored, the real ones found


def test_a_damaged_run_cache_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import threading\nL = threading.Lock()\n"
                                   "def f():\n    with L:\n        with L:\n            pass\n")
    cache = tmp_path / "cache"
    first = run_main("--format", "json", "--cache-dir", str(cache), "a.py", cwd=tmp_path)
    for run_file in cache.rglob("*.run"):
        run_file.write_bytes(run_file.read_bytes()[:-5])
    second = run_main("--format", "json", "--cache-dir", str(cache), "a.py", cwd=tmp_path)
    assert first.stdout == second.stdout and '"CL102"' in first.stdout


def test_an_unusable_cache_or_key_location_only_costs_speed(tmp_path: Path,
                                                             monkeypatch) -> None:
    (tmp_path / "a.py").write_text("import threading\nL = threading.Lock()\n"
                                   "def f():\n    with L:\n        with L:\n            pass\n")
    (tmp_path / "not_a_folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not_a_folder"))  # no key can be kept
    for _ in range(2):
        ran = run_main("--format", "json", "--cache-dir", str(tmp_path / "not_a_folder"),
                       "a.py", cwd=tmp_path)
        assert ran.returncode == 1 and '"CL102"' in ran.stdout, ran.stderr
    assert (tmp_path / "not_a_folder").read_text() == ""
