"""CL401-CL404 on small programs: exact codes and lines, and the look-alikes that stay quiet."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.helpers import lint_source
from tests.test_cli import run


def found(tmp_path: Path, source: str, prefix: str = "CL4") -> list[tuple[int, str]]:
    return sorted((d.line, d.code) for d in lint_source(tmp_path, textwrap.dedent(source))
                  if d.code.startswith(prefix))


# ----------------------------------------------------------------------------- CL401
def test_blocking_calls_through_aliases(tmp_path: Path) -> None:
    source = """\
        import time as t
        from requests import post as send
        import transformers as tf
        from queue import Queue

        model = tf.AutoModelForSeq2SeqLM.from_pretrained("t5-small")
        jobs = Queue()

        async def handler(x):
            t.sleep(1)
            send("http://x", json=x, timeout=3)
            model.generate(x)
            jobs.get(timeout=2)
            jobs.get(False)
            t.sleep(0)
    """
    assert found(tmp_path, source) == [(10, "CL401"), (11, "CL401"), (12, "CL401"),
                                       (13, "CL401")]


def test_model_calls_need_a_visible_model(tmp_path: Path) -> None:
    source = """\
        from transformers import AutoTokenizer, pipeline

        tokenizer = AutoTokenizer.from_pretrained("gpt2")

        class Service:
            def __init__(self, engine):
                self.engine = engine
                self.pipe = None

            def load(self):
                self.pipe = pipeline("summarization")

            async def run(self, text, model):
                model.generate(text)
                self.engine.generate(text)
                await self.engine.generate(text)
                tokenizer.encode(text)
                return self.pipe(text)
    """
    assert found(tmp_path, source) == [(18, "CL401")]


def test_interprocedural_chain_is_shown(tmp_path: Path) -> None:
    source = """\
        import subprocess

        def gpu_memory():
            return _query()

        def _query():
            return subprocess.check_output(["nvidia-smi"])

        async def status():
            return gpu_memory()
    """
    [diagnostic] = lint_source(tmp_path, textwrap.dedent(source))
    assert (diagnostic.code, diagnostic.line) == ("CL401", 10)
    assert "subprocess.check_output()" in diagnostic.message
    assert [r.line for r in diagnostic.related] == [9, 10, 4, 7]


def test_nested_functions_awaits_and_async_callees_are_not_the_loop(tmp_path: Path) -> None:
    source = """\
        import asyncio
        import time

        async def slow():
            time.sleep(1)

        async def handler(loop):
            def work():
                time.sleep(1)
            await asyncio.to_thread(work)
            await loop.run_in_executor(None, lambda: time.sleep(1))
            slow_coroutine = slow()
            await slow_coroutine
    """
    assert found(tmp_path, source) == [(5, "CL401")]


def test_cuda_tensor_host_copies(tmp_path: Path) -> None:
    source = """\
        import torch

        async def handler(batch, weights):
            gpu = batch.cuda()
            on_device = torch.ones(3, device="cuda:0")
            device = torch.device("cuda")
            moved = weights.to(device)
            cpu = torch.ones(3)
            a = gpu.mean().item()
            b = on_device.cpu()
            c = moved.sum().tolist()
            d = cpu.item()
            e = batch.item()
            return a, b, c, d, e
    """
    assert found(tmp_path, source) == [(9, "CL401"), (10, "CL401"), (11, "CL401")]


def test_startup_hooks_are_quiet(tmp_path: Path) -> None:
    source = """\
        import time
        from fastapi import FastAPI
        from starlette.applications import Starlette

        app = FastAPI()

        @app.on_event("startup")
        async def warm_up():
            time.sleep(1)

        @app.on_event("request")
        async def not_a_hook():
            time.sleep(1)

        async def on_boot():
            time.sleep(1)

        other = Starlette(on_startup=[on_boot])
    """
    assert found(tmp_path, source) == [(13, "CL401")]


def test_put_on_an_unbounded_queue_never_blocks(tmp_path: Path) -> None:
    source = """\
        import queue
        import threading

        lock = threading.Lock()
        bounded = queue.Queue(8)

        class Sink:
            def __init__(self):
                self.events = queue.Queue()
                self.limited = queue.Queue(maxsize=2)

            async def emit(self, event):
                self.events.put(event)
                self.limited.put(event)
                bounded.put(event)
                local = queue.Queue(maxsize=0)
                local.put(event)

            def emit_locked(self, event):
                with lock:
                    self.events.put(event)
                    self.limited.put(event)
    """
    assert found(tmp_path, source, "CL") == [(14, "CL401"), (15, "CL401"), (22, "CL104")]


def test_test_code_is_not_a_server(tmp_path: Path) -> None:
    source = "import time\n\nasync def test_slow():\n    time.sleep(1)\n"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "test").mkdir()  # a directory named test that is not a package
    for name in ("test_server.py", "server_test.py", "conftest.py", "tests/helpers.py"):
        assert found(tmp_path, source) == [(4, "CL401")]  # snippet.py: not a test module
        assert not [d for d in lint_source(tmp_path, source, name) if d.code == "CL401"], name
    assert [d.code for d in lint_source(tmp_path, source, "test/server.py")] == ["CL401"]


def test_settled_futures_and_nonblocking_sockets(tmp_path: Path) -> None:
    source = """\
        import asyncio
        import socket
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor()

        async def handler(data):
            fut = pool.submit(len, data)
            await asyncio.wrap_future(fut)
            ok = fut.result()
            other = pool.submit(len, data)
            bad = other.result()
            sock = socket.socket()
            sock.setblocking(False)
            sock.send(data)
            return ok, bad
    """
    assert found(tmp_path, source) == [(12, "CL401")]


def test_declared_blocking_calls(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.conclint]
        blocking-calls = ["myco.client.InferenceClient.predict", "app.helpers.wait_for_peer"]
    """))
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("def wait_for_peer():\n    return 1\n")
    (package / "server.py").write_text(textwrap.dedent("""\
        import threading
        from myco.client import InferenceClient
        from app.helpers import wait_for_peer

        client = InferenceClient("http://model")
        lock = threading.Lock()

        async def handler(x):
            wait_for_peer()
            return client.predict(x)

        def worker(x):
            with lock:
                return client.predict(x)
    """))
    result = run("--format", "json", "app", cwd=tmp_path)
    codes = sorted((d["line"], d["code"]) for d in json.loads(result.stdout)["diagnostics"])
    assert codes == [(9, "CL401"), (10, "CL401"), (14, "CL104")]


# ----------------------------------------------------------------------------- CL402
def test_dangling_tasks(tmp_path: Path) -> None:
    source = """\
        import asyncio
        from asyncio import create_task as spawn

        tasks = set()

        async def job():
            await asyncio.sleep(1)

        async def handler():
            spawn(job())
            _ = asyncio.ensure_future(job())
            coro = job()
            asyncio.ensure_future(coro)
            asyncio.get_running_loop().create_task(job())
            kept = asyncio.create_task(job())
            tasks.add(kept)
            kept.add_done_callback(tasks.discard)
            async with asyncio.TaskGroup() as group:
                group.create_task(job())
            fut = asyncio.get_running_loop().create_future()
            asyncio.ensure_future(fut)
            await asyncio.create_task(job())
    """
    assert found(tmp_path, source) == [(10, "CL402"), (11, "CL402"), (13, "CL402"),
                                       (14, "CL402")]


# ----------------------------------------------------------------------------- CL403
def test_thread_lock_across_suspension_points(tmp_path: Path) -> None:
    source = """\
        import asyncio
        import threading
        import multiprocessing as mp

        lock = threading.RLock()
        sem = mp.get_context("spawn").Semaphore(4)
        alock = asyncio.Lock()

        async def a(fut):
            with lock:
                await fut

        async def b(stream):
            with sem:
                async for item in stream:
                    print(item)

        async def c():
            with lock:
                async with alock:
                    pass

        async def d():
            async with alock:
                await asyncio.sleep(1)
            with lock:
                x = 1
            await asyncio.sleep(x)
    """
    assert found(tmp_path, source) == [(10, "CL403"), (14, "CL403"), (19, "CL403")]


def test_thread_lock_taken_while_a_thread_holds_it_across_blocking(tmp_path: Path) -> None:
    source = """\
        import threading
        import time

        state = {"n": 0}
        lock = threading.Lock()
        other = threading.Lock()

        def refresher():
            while True:
                with lock:
                    time.sleep(5)
                with other:
                    state["n"] += 1

        threading.Thread(target=refresher, daemon=True).start()

        async def read():
            with lock:
                n = state["n"]
            with other:
                return n
    """
    diagnostics = [d for d in lint_source(tmp_path, textwrap.dedent(source))]
    assert sorted((d.line, d.code) for d in diagnostics) == [(11, "CL104"), (18, "CL403")]
    [cl403] = [d for d in diagnostics if d.code == "CL403"]
    assert [r.line for r in cl403.related] == [18, 10, 11]


# ----------------------------------------------------------------------------- CL404
def test_callable_slots_given_results(tmp_path: Path) -> None:
    source = """\
        import asyncio
        import functools
        import requests
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(2)

        def download(url):
            return requests.get(url).content

        def make_job(url):
            def job():
                return download(url)
            return job

        def pick(name):
            return {"len": len}[name]

        async def notify():
            pass

        async def handler(url):
            loop = asyncio.get_running_loop()
            a = await asyncio.to_thread(download(url))
            b = await loop.run_in_executor(None, requests.get(url))
            pool.submit(download(url))
            loop.call_soon(notify())
            c = await asyncio.to_thread(download, url)
            d = await loop.run_in_executor(None, functools.partial(download, url))
            e = await loop.run_in_executor(None, make_job(url))
            f = await asyncio.to_thread(pick("len"), url)
            return a, b, c, d, e, f
    """
    assert found(tmp_path, source) == [(24, "CL404"), (25, "CL404"), (26, "CL404"),
                                       (27, "CL404")]
