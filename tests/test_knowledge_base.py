"""The API knowledge base, its user extensions and the resolution it relies on."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conclint.config import load_config
from conclint.discover import UsageError, discover
from conclint.extract.parallel import extract_files
from conclint.knowledge import API_TABLES, api_names, canonical, declared_owners
from conclint.knowledge_async import CALLABLE_SLOTS, LOOP_BLOCKERS, TASK_CREATORS, ml_family
from conclint.program.index import Program
from conclint.program.values import External, Func, Instance
from tests.helpers import lint_source


@pytest.mark.parametrize(("name", "family"), [
    ("transformers.AutoModelForCausalLM.from_pretrained",
     "transformers.PreTrainedModel.from_pretrained"),
    ("transformers.models.llama.modeling_llama.LlamaForCausalLM.generate",
     "transformers.PreTrainedModel.generate"),
    ("transformers.GPT2LMHeadModel", "transformers.PreTrainedModel"),
    ("transformers.TextGenerationPipeline.__call__", "transformers.Pipeline.__call__"),
    ("transformers.AutoTokenizer.from_pretrained",
     "transformers.PreTrainedTokenizerBase.from_pretrained"),
    ("diffusers.StableDiffusionXLPipeline.from_pretrained",
     "diffusers.DiffusionPipeline.from_pretrained"),
    ("transformers.pipeline", "transformers.pipeline"),
    ("transformers.AutoConfig.from_pretrained", "transformers.AutoConfig.from_pretrained"),
    ("transformers.Trainer.train", "transformers.Trainer.train"),
    ("torch.multiprocessing.Queue", "torch.multiprocessing.Queue"),
])
def test_ml_class_families(name: str, family: str) -> None:
    assert ml_family(name) == family


def test_canonical_applies_families_and_asyncio_submodules() -> None:
    assert canonical("transformers.BertForSequenceClassification.from_pretrained") == (
        "transformers.PreTrainedModel.from_pretrained")
    assert canonical("asyncio.events.AbstractEventLoop.run_in_executor") == (
        "asyncio.AbstractEventLoop.run_in_executor")
    assert canonical("asyncio.base_events.BaseEventLoop.create_task") == (
        "asyncio.AbstractEventLoop.create_task")
    assert canonical("asyncio.tasks.ensure_future") == "asyncio.ensure_future"


def test_tables_are_registered_for_the_call_graph() -> None:
    for table in (LOOP_BLOCKERS, TASK_CREATORS, CALLABLE_SLOTS):
        assert table in API_TABLES
    assert {"generate", "encode", "create_task", "to_thread", "run_in_executor"} <= api_names()


def test_every_loop_blocker_says_what_to_do_instead() -> None:
    for name, spec in LOOP_BLOCKERS.items():
        assert spec.what.startswith(("`", "blocking `")), name
        assert spec.instead, name
        spec.what.format(recv="x")
        spec.instead.format(recv="x")


def test_declared_owners() -> None:
    assert declared_owners(["myco.client.Client.fetch", "myco.wait", "top"]) == frozenset(
        {"myco.client.Client"})


# ----------------------------------------------------------------------------- config
def write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_blocking_calls_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        [tool.conclint]
        blocking-calls = ["myco.rpc.wait_for_peer"]
    """))
    assert config.knowledge().blocking_calls == ("myco.rpc.wait_for_peer",)


@pytest.mark.parametrize(("value", "error"), [
    ('"myco.rpc.wait"', "must be a list of strings"),
    ('["wait_for_peer"]', "is not a fully-qualified name"),
    ('["myco..wait"]', "is not a fully-qualified name"),
])
def test_blocking_calls_key_errors(tmp_path: Path, value: str, error: str) -> None:
    path = write(tmp_path, f"[tool.conclint]\nblocking-calls = {value}\n")
    with pytest.raises(UsageError, match=error):
        load_config(path)


# ----------------------------------------------------------------------------- facts
def program_of(tmp_path: Path, files: dict[str, str]) -> Program:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    extracted = extract_files(discover([str(tmp_path)]), 1, None)
    return Program(extracted)  # type: ignore[arg-type]


def test_suspension_points_record_held_acquisitions(tmp_path: Path) -> None:
    program = program_of(tmp_path, {"m.py": """\
        async def f(lock, fut, stream):
            await fut
            with lock:
                await fut
                async for item in stream:
                    pass
    """})
    fn = program.where("m.f").function
    assert [held for _, held in fn.suspends] == [(), (0,), (0,)]


def test_placeholder_attribute_gives_way_to_the_real_value(tmp_path: Path) -> None:
    program = program_of(tmp_path, {"m.py": """\
        import threading

        class Server:
            def __init__(self):
                self.model = None
                self.lock = None

            def start(self):
                self.model = Model()
                self.lock = threading.Lock()

        class Model:
            pass
    """})
    attrs = program.classes["m.Server"][1].attrs
    assert attrs == {"model": "Model()", "lock": "threading.Lock()"}


def test_star_imports_re_export_analysed_names(tmp_path: Path) -> None:
    program = program_of(tmp_path, {
        "pkg/__init__.py": "from .impl import *\n",
        "pkg/impl.py": "def spawn(coro):\n    return coro\n",
        "use.py": "import pkg\n\ndef main():\n    pkg.spawn(None)\n",
    })
    where = program.where("use.main")
    assert program.resolve(where, "pkg.spawn") == Func("pkg.impl.spawn")


def test_calling_an_instance_of_a_known_type(tmp_path: Path) -> None:
    program = program_of(tmp_path, {"m.py": """\
        from transformers import pipeline

        pipe = pipeline("summarization")

        def main(text):
            return pipe(text)
    """})
    where = program.where("m.main")
    assert program.resolve(where, "pipe") == Instance("transformers.Pipeline", False)
    [call] = [c for c in where.function.calls if c.callee == "pipe"]
    assert program.resolve_call(where, call).external == "transformers.Pipeline.__call__"
    assert program.resolve(where, "pipeline") == External("transformers.pipeline")


def test_import_aliases_of_relevant_names_are_resolved(tmp_path: Path) -> None:
    source = """\
        import threading
        from time import sleep as snooze

        lock = threading.Lock()

        def tick():
            with lock:
                snooze(1)
    """
    assert [(d.line, d.code) for d in lint_source(tmp_path, textwrap.dedent(source))] == [
        (8, "CL104")]


SPINLOCK_INVERSION = """\
from myco.sync import SpinLock

WEIGHTS = SpinLock()
STATS = SpinLock()


def load():
    with WEIGHTS:
        with STATS:
            pass


def report():
    with STATS:
        with WEIGHTS:
            pass
"""


def test_lock_factories_key_makes_in_house_locks_count(tmp_path: Path) -> None:
    from conclint.config import KnowledgeExtensions, enabled_codes
    from conclint.engine import analyse

    (tmp_path / "spin.py").write_text(SPINLOCK_INVERSION)
    files = discover([str(tmp_path / "spin.py")])
    codes = enabled_codes(None, (), ())
    assert analyse(files, codes).diagnostics == []
    declared = KnowledgeExtensions(lock_factories=("myco.sync.SpinLock",))
    found = analyse(files, codes, extensions=declared).diagnostics
    assert [(d.code, d.line) for d in found] == [("CL101", 9)]
