"""CL501-CL505 on focused snippets: the findings, and the look-alikes that must stay quiet."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from conclint.extract.walker import ModuleWalker
from tests.helpers import lint_paths, lint_source
from tests.test_cli import conclint_command

HEADER = """\
import os
import torch
import torch.distributed as dist
"""


def found(tmp_path: Path, source: str, code: str | None = None) -> list[tuple[str, int]]:
    """(code, line) of every ML diagnostic; lines count from the snippet after HEADER."""
    offset = HEADER.count("\n")
    diagnostics = lint_source(tmp_path, HEADER + textwrap.dedent(source))
    return sorted((d.code, d.line - offset) for d in diagnostics
                  if d.code.startswith("CL5") and (code is None or d.code == code))


# ------------------------------------------------------------------ walker facts
def test_walker_records_branch_tests_arms_and_exits() -> None:
    source = textwrap.dedent("""\
        def f(rank, batches):
            if int(os.environ["LOCAL_RANK"]) in (-1, 0) and not is_main:
                dist.barrier()
            else:
                return None
            for batch in batches:
                try:
                    step(batch)
                except ValueError:
                    continue
                finally:
                    dist.all_reduce(batch)
        """)
    facts = ModuleWalker("m.py", "m", False).walk(cst.parse_module(source))
    fn = facts.functions[1]
    kinds = [b.kind for b in fn.branches]
    assert kinds == ["if", "for", "except", "finally"]
    test = fn.branches[0].test
    assert test == ("and",
                    ("cmp", "in", ("atom", "os.environ[]", ("LOCAL_RANK",)), ("consts", (-1, 0))),
                    ("not", ("atom", "is_main", ())))
    barrier, all_reduce = (c for c in fn.calls if c.callee.startswith("dist."))
    body, orelse = fn.branches[0].body, fn.branches[0].orelse
    assert body[0] < barrier.loc <= body[1]
    assert orelse is not None and orelse[0] < dict(map(reversed, fn.exits))["return"] <= orelse[1]
    start, end = fn.branches[3].body
    assert start < all_reduce.loc <= end
    assert [kind for _, kind in fn.exits] == ["return", "continue"]


# ------------------------------------------------------------------------ CL501
def test_collective_under_rank_condition_and_through_a_helper(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        def average(t):
            dist.all_reduce(t)
            return t / dist.get_world_size()

        def log(loss, step):
            r = dist.get_rank()
            if r == 0:
                dist.barrier()
            if dist.get_rank() == 0 and step % 10 == 0:
                print(average(loss))
        """) == [("CL501", 8), ("CL501", 10)]


def test_complementary_barriers_and_same_sequence_are_quiet(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        from contextlib import contextmanager

        @contextmanager
        def zero_first(local_rank):
            if local_rank not in [-1, 0]:
                dist.barrier()
            yield
            if local_rank == 0:
                dist.barrier()

        def both(rank, t):
            if rank == 0:
                t.add_(1)
                dist.broadcast(t, src=0)
            else:
                dist.broadcast(t, src=0)

        def prepare(rank):
            with zero_first(rank):
                pass
            if rank == 0:
                with zero_first(-1):
                    pass
        """) == []


def test_an_unpaired_third_barrier_is_reported(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        def f(rank):
            if rank != 0:
                dist.barrier()
            if rank == 0:
                dist.barrier()
            if rank == 0:
                dist.barrier()
        """) == [("CL501", 7)]


def test_groups_point_to_point_and_initialisation_guards(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        def f(rank, t, ranks, group, src):
            if rank in ranks:
                dist.all_reduce(t, group=group)
            if rank == 0:
                dist.send(t, dst=1)
            else:
                dist.recv(t, src=0)
            if dist.is_initialized():
                dist.barrier()
            if rank in ranks:
                dist.all_reduce(t)
            if not dist.is_initialized() or dist.get_rank() == 0:
                dist.barrier()
            if rank == src:
                dist.broadcast(t, src)
        """) == [("CL501", 11), ("CL501", 13), ("CL501", 15)]


def test_constant_conditions_and_data_conditions_are_quiet(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        def f(local_rank, t, step):
            if local_rank != -1:
                dist.barrier()
            if local_rank == -1:
                print("single process")
            if step % 10 == 0:
                dist.all_reduce(t)
            if local_rank in (-1, 0):
                print(t)
        """) == []


def test_early_exits_skip_the_collectives_after_them(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        def train(rank, batches, t):
            for batch in batches:
                if rank != 0 and batch is None:
                    continue
                dist.all_reduce(t)
            if rank == 0:
                return t
            dist.barrier()

        def checks(rank, t):
            if rank > 0 and t is None:
                raise ValueError("no tensor")
            dist.all_reduce(t)
        """) == [("CL501", 5), ("CL501", 8)]


def test_exit_in_one_arm_does_not_skip_the_other_arm(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        def maybe(t, sharded):
            if sharded:
                dist.all_gather([t], t)

        def load(rank, kind, t):
            if kind == "full":
                if rank != 0:
                    return None
                t = torch.load("full.pt")
            elif kind == "sharded":
                dist.barrier()
            maybe(t, kind == "sharded")
            return t
        """) == []


def test_decorated_one_rank_function(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        from lightning.pytorch.utilities import rank_zero_only

        @rank_zero_only
        def report(t):
            dist.all_reduce(t)
            print(t)

        @rank_zero_only
        def banner():
            print("hello")

        def train(t):
            report(t)
            banner()
        """) == [("CL501", 5)]


def test_ddp_forward_and_fsdp_state_dict_are_implicit_collectives(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        def train(net, x, rank):
            model = DDP(net)
            sharded = FSDP(net)
            if rank == 0:
                model(x)
            if rank == 0:
                model.module(x)
            if rank == 0:
                with model.no_sync():
                    model(x)
            if rank == 0:
                torch.save(sharded.state_dict(), "ckpt.pt")
            if rank == 0:
                torch.save(model.state_dict(), "ckpt.pt")
        """) == [("CL501", 8), ("CL501", 15)]


def test_configured_collectives(tmp_path: Path) -> None:
    package = tmp_path / "proj"
    (package / "mypkg").mkdir(parents=True)
    (package / "mypkg" / "__init__.py").write_text("")
    (package / "mypkg" / "comm.py").write_text(
        "def sync_all(x):\n    return x\n")
    (package / "mypkg" / "train.py").write_text(textwrap.dedent("""\
        import torch.distributed as dist
        import vendor.comm
        from mypkg.comm import sync_all


        def step(x):
            if dist.get_rank() == 0:
                sync_all(x)
            if dist.get_rank() == 0:
                vendor.comm.reduce_dict(x)
        """))
    command = [*conclint_command(), "--select", "CL501", "--no-cache", "--format", "json",
               "mypkg"]
    plain = subprocess.run(command, cwd=package, capture_output=True, text=True)
    assert '"diagnostics": []' in plain.stdout
    (package / "pyproject.toml").write_text(
        '[tool.conclint]\ncollectives = ["mypkg.comm.sync_all", "vendor.comm.reduce_dict"]\n')
    extended = subprocess.run(command, cwd=package, capture_output=True, text=True)
    assert extended.stdout.count('"code": "CL501"') == 2, extended.stdout
    (package / "pyproject.toml").write_text('[tool.conclint]\ncollectives = ["sync_all"]\n')
    bad = subprocess.run(command, cwd=package, capture_output=True, text=True)
    assert bad.returncode == 2 and "fully-qualified" in bad.stderr


# ------------------------------------------------------------------------ CL502
LOADER = """\
from torch.utils.data import DataLoader, Dataset


class Gpu(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.zeros(3).cuda()
"""


def test_cuda_in_dataset_depends_on_the_loader(tmp_path: Path) -> None:
    assert found(tmp_path, LOADER + """\

def make(n):
    return [DataLoader(Gpu(), num_workers=0), DataLoader(Gpu()),
            DataLoader(Gpu(), num_workers=2, multiprocessing_context="forkserver")]
""") == []
    assert found(tmp_path, LOADER + """\

def make(dataset, n):
    return DataLoader(dataset, num_workers=n)

def run():
    return make(Gpu(), 4)
""") == [("CL502", 9)]


def test_set_start_method_applies_to_its_own_program(tmp_path: Path) -> None:
    spawn = tmp_path / "spawned"
    spawn.mkdir()
    (spawn / "data.py").write_text(HEADER + LOADER + "\nloader = DataLoader(Gpu(), num_workers=2)\n")
    (spawn / "train.py").write_text(
        "import torch.multiprocessing as mp\n\nif __name__ == '__main__':\n"
        "    mp.set_start_method('spawn')\n")
    forked = tmp_path / "forked"
    forked.mkdir()
    (forked / "data.py").write_text(HEADER + LOADER + "\nloader = DataLoader(Gpu(), num_workers=2)\n")
    diagnostics = lint_paths(tmp_path)
    assert [(Path(d.path).parent.name, d.code) for d in diagnostics] == [("forked", "CL502")]


def test_process_targets_need_cuda_in_the_parent_first(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        import multiprocessing as mp

        def work(i):
            torch.cuda.set_device(i)

        def fresh():
            procs = [mp.Process(target=work, args=(i,)) for i in range(2)]
            return procs

        def after_init():
            x = torch.ones(1, device="cuda:0")
            with mp.Pool(2) as pool:
                pool.map(work, range(2))
            return x
        """) == [("CL502", 13)]


def test_module_level_cuda_counts_as_the_parents(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        import multiprocessing as mp

        MODEL = torch.nn.Linear(3, 3).cuda()

        def work(x):
            return torch.tensor(x).cuda()

        def run(items):
            ctx = mp.get_context("fork")
            with ctx.Pool(2) as pool:
                return pool.map(work, items)
        """) == [("CL502", 11)]


# ------------------------------------------------------------------------ CL503
def test_rng_objects_copied_into_workers(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        import numpy as np
        from torch.utils.data import DataLoader, Dataset

        class A(Dataset):
            def __init__(self):
                self.rng = np.random.RandomState(0)
            def __getitem__(self, i):
                return self.rng.rand()

        class B(A):
            def __getitem__(self, i):
                if i == 0:
                    self.rng = np.random.RandomState(i)
                return self.rng.rand()

        def reseed(worker_id):
            info = torch.utils.data.get_worker_info()
            info.dataset.rng = np.random.RandomState(worker_id)

        loaders = [DataLoader(A(), num_workers=2), DataLoader(B(), num_workers=2),
                   DataLoader(A(), num_workers=2, worker_init_fn=reseed),
                   DataLoader(A(), num_workers=0)]
        """) == [("CL503", 8)]


def test_worker_init_fn_seeds(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        import random
        import numpy as np
        from torch.utils.data import DataLoader

        SEED = 3

        def constant(worker_id):
            torch.manual_seed(1234)

        def per_worker(worker_id):
            np.random.seed(SEED + worker_id)
            random.seed(torch.initial_seed())

        def from_settings(worker_id, settings=None):
            np.random.seed(settings.seed)

        loaders = [DataLoader(range(3), num_workers=2, worker_init_fn=constant),
                   DataLoader(range(3), num_workers=2, worker_init_fn=per_worker),
                   DataLoader(range(3), num_workers=2, worker_init_fn=from_settings)]
        """) == [("CL503", 8)]


def test_numpy_in_fork_pools(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        import multiprocessing as mp
        import numpy as np

        def noisy(x):
            return x + np.random.randn()

        def reseeding(x):
            np.random.seed()
            return x + np.random.randn()

        def run(items):
            with mp.Pool(4) as pool:
                a = pool.map(noisy, items)
                b = pool.map(reseeding, items)
            with mp.get_context("spawn").Pool(4) as spawned:
                c = spawned.map(noisy, items)
            return a, b, c
        """) == [("CL503", 13)]


# ------------------------------------------------------------------------ CL504
def test_process_group_teardown(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        import atexit

        def setup():
            dist.init_process_group("gloo")

        def main():
            setup()
            dist.barrier()

        def main_normal_only():
            setup()
            dist.barrier()
            dist.destroy_process_group()

        def main_safe():
            setup()
            try:
                dist.barrier()
            finally:
                dist.destroy_process_group()

        def main_atexit():
            setup()
            atexit.register(dist.destroy_process_group)

        class Runner:
            def start(self):
                dist.init_process_group("gloo")

        if __name__ == "__main__":
            main()
            main_normal_only()
            main_safe()
            main_atexit()
        """, "CL504") == [("CL504", 7), ("CL504", 11)]


# ------------------------------------------------------------------------ CL505
def test_iterable_datasets(tmp_path: Path) -> None:
    assert found(tmp_path, """\
        from torch.utils.data import DataLoader, IterableDataset

        class Plain(IterableDataset):
            def __iter__(self):
                yield from range(10)

        class Sharded(IterableDataset):
            def __iter__(self):
                info = torch.utils.data.get_worker_info()
                yield from range(info.id if info else 0, 10, info.num_workers if info else 1)

        def build(workers):
            return [DataLoader(Plain(), num_workers=1), DataLoader(Plain(), num_workers=0),
                    DataLoader(Sharded(), num_workers=4),
                    DataLoader(Plain(), num_workers=workers)]
        """) == [("CL505", 4)]


@pytest.mark.parametrize("fixture", ["train_ddp.py", "data_pipeline.py"])
def test_fixtures_lint_clean_under_other_families(fixture: str) -> None:
    """The ML fixtures produce only CL5xx findings (other families' rules stay quiet)."""
    root = Path(__file__).resolve().parent.parent / "fixtures" / "ml" / fixture
    assert {d.code[:3] for d in lint_paths(root)} <= {"CL5"}
