"""What conclint knows about ML frameworks: torch.distributed, DataLoader workers, CUDA, RNGs.

Pure data, read by the CL5xx analyses. Names are canonical (see ``knowledge.canonical``,
which applies ``RENAMES`` and ``PREFIX_ALIASES`` below). Every table of qualified names is
listed in ``API_TABLES`` so that the call graph resolves calls whose last name is one of
them. Sources: the research notes, section H.5 (collectives) and sections A/B.
"""

from __future__ import annotations

_DIST = "torch.distributed"

# Spellings of the same API under another module path.
PREFIX_ALIASES = {
    "torch.distributed.distributed_c10d": _DIST,
    "torch.utils.data.dataloader": "torch.utils.data",
    "torch.utils.data.dataset": "torch.utils.data",
    "torch.utils.data._utils.worker": "torch.utils.data",
    "torch.nn.parallel.distributed": "torch.nn.parallel",
    "torch.distributed.fsdp.fully_sharded_data_parallel": "torch.distributed.fsdp",
    "accelerate.accelerator": "accelerate",
    "accelerate.state": "accelerate",
    "accelerate.utils.operations": "accelerate.utils",
    **{f"{package}.{module}": "lightning.pytorch"
       for package in ("lightning.pytorch", "pytorch_lightning")
       for module in ("core.module", "core", "trainer.trainer", "trainer")},
    "pytorch_lightning": "lightning.pytorch",
    "lightning.fabric.fabric": "lightning.fabric",
    "lightning.LightningModule": "lightning.pytorch.LightningModule",
    "lightning.Trainer": "lightning.pytorch.Trainer",
    "lightning.Fabric": "lightning.fabric.Fabric",
    "numpy.random.mtrand": "numpy.random",
}
RENAMES = {
    "accelerate.AcceleratorState": "accelerate.PartialState",
}

# Collective kinds: explicit torch.distributed collectives and the calls that are one
# implicitly. Every rank of the group must make the same sequence of them; the value
# is the kind used to compare sequences (synonyms share one kind).
_EXPLICIT = {
    "all_reduce": "all_reduce", "all_reduce_coalesced": "all_reduce", "reduce": "reduce",
    "broadcast": "broadcast", "broadcast_object_list": "broadcast",
    "all_gather": "all_gather", "all_gather_into_tensor": "all_gather",
    "_all_gather_base": "all_gather", "all_gather_coalesced": "all_gather",
    "all_gather_object": "all_gather_object", "gather": "gather", "gather_object": "gather",
    "scatter": "scatter", "scatter_object_list": "scatter",
    "reduce_scatter": "reduce_scatter", "reduce_scatter_tensor": "reduce_scatter",
    "_reduce_scatter_base": "reduce_scatter", "all_to_all": "all_to_all",
    "all_to_all_single": "all_to_all", "barrier": "barrier", "monitored_barrier": "barrier",
    "new_group": "new_group", "new_subgroups": "new_group",
    "new_subgroups_by_enumeration": "new_group",
}
_FUNCTIONAL = ("all_reduce", "all_gather", "broadcast", "reduce", "reduce_scatter",
               "all_to_all", "gather", "scatter")
_FUNCTIONAL_C = {"all_reduce": "all_reduce", "all_gather_tensor": "all_gather",
                 "reduce_scatter_tensor": "reduce_scatter",
                 "all_to_all_single": "all_to_all", "broadcast": "broadcast"}
_DDP = "torch.nn.parallel.DistributedDataParallel"
_FSDP = "torch.distributed.fsdp.FullyShardedDataParallel"
_DCP = "torch.distributed.checkpoint"
_ACCELERATE = {
    "gather": "all_gather", "gather_for_metrics": "all_gather", "reduce": "all_reduce",
    "pad_across_processes": "all_gather", "wait_for_everyone": "barrier",
    "save_state": "save_state", "load_state": "load_state", "prepare": "prepare",
    "get_state_dict": "state_dict", "save_model": "state_dict",
}
_LIGHTNING_MODULE = "lightning.pytorch.LightningModule"
_FABRIC = "lightning.fabric.Fabric"
_TRAINER = "lightning.pytorch.Trainer"


def _collectives() -> dict[str, str]:
    table = {f"{_DIST}.{name}": kind for name, kind in _EXPLICIT.items()}
    table.update({f"deepspeed.comm.{name}": kind for name, kind in _EXPLICIT.items()})
    table.update({f"{_DIST}.nn.functional.{name}": name for name in _FUNCTIONAL})
    table.update({f"{_DIST}._functional_collectives.{name}": kind
                  for name, kind in _FUNCTIONAL_C.items()})
    table[f"{_DIST}.device_mesh.init_device_mesh"] = "new_group"
    for name in ("save", "load", "async_save", "save_state_dict", "load_state_dict"):
        table[f"{_DCP}.{name}"] = f"checkpoint.{name}"
    for name in ("get_state_dict", "set_state_dict", "get_model_state_dict",
                 "get_optimizer_state_dict", "set_model_state_dict",
                 "set_optimizer_state_dict"):
        table[f"{_DCP}.state_dict.{name}"] = "state_dict"
    table[f"{_DDP}.__init__"] = "broadcast"
    table[f"{_DDP}.__call__"] = "forward"
    table[f"{_DDP}.forward"] = "forward"
    for name in ("__init__", "__call__", "forward"):
        table[f"{_FSDP}.{name}"] = "forward" if name != "__init__" else "broadcast"
    for name in ("state_dict", "optim_state_dict", "full_optim_state_dict",
                 "sharded_optim_state_dict", "summon_full_params", "clip_grad_norm_",
                 "scatter_full_optim_state_dict", "optim_state_dict_to_load"):
        table[f"{_FSDP}.{name}"] = "state_dict" if "state_dict" in name else name
    for owner in ("accelerate.Accelerator", "accelerate.PartialState"):
        for name, kind in _ACCELERATE.items():
            table[f"{owner}.{name}"] = kind
    for name in ("gather", "gather_object", "broadcast", "broadcast_object_list", "reduce",
                 "pad_across_processes", "wait_for_everyone"):
        table[f"accelerate.utils.{name}"] = _ACCELERATE.get(name, name)
    for name in ("all_gather", "barrier", "broadcast", "all_reduce"):
        table[f"{_FABRIC}.{name}"] = name
    # "This method must be called on all processes" (Fabric.save/load, Trainer.save_checkpoint)
    table[f"{_FABRIC}.save"] = "checkpoint.save"
    table[f"{_FABRIC}.load"] = "checkpoint.load"
    table[f"{_TRAINER}.save_checkpoint"] = "checkpoint.save"
    table[f"{_LIGHTNING_MODULE}.all_gather"] = "all_gather"
    for name in ("all_reduce", "rendezvous", "mesh_reduce", "all_gather", "reduce_scatter"):
        table[f"torch_xla.core.xla_model.{name}"] = name
    return table


COLLECTIVES: dict[str, str] = _collectives()

# Receivers named like these (when nothing better is known about their type) are the
# framework objects of the same name: `accelerator.gather(x)`, `trainer.strategy.barrier()`.
NAMED_RECEIVERS = {
    "accelerator": "accelerate.Accelerator",
    "fabric": _FABRIC,
    "strategy": "lightning.pytorch.strategies.Strategy",
    "trainer": _TRAINER,
}
for _name in ("barrier", "broadcast", "reduce", "all_gather", "reduce_boolean_decision"):
    COLLECTIVES[f"lightning.pytorch.strategies.Strategy.{_name}"] = _name
# `self.log(..., sync_dist=True)` in a LightningModule reduces the value across ranks.
SYNC_LOG = f"{_LIGHTNING_MODULE}.log"

# Calls that only involve two ranks: meant to be rank-conditional.
POINT_TO_POINT = frozenset(f"{_DIST}.{n}" for n in (
    "send", "recv", "isend", "irecv", "batch_isend_irecv", "P2POp", "send_object_list",
    "recv_object_list"))

# A collective that takes one of these arguments runs only on the members of that group.
GROUP_KEYWORDS = ("group", "process_group", "pg")

# Rank predicates: names whose value is this process's rank (or local/node rank), and
# names whose truth is "this is the main process" (rank 0).
RANK_VALUE_CALLS = frozenset({
    "get_rank", "get_local_rank", "get_node_local_rank", "get_global_rank", "get_ordinal",
    "get_local_ordinal", "get_process_index", "get_local_process_index",
})
RANK_VALUE_NAMES = frozenset({
    "rank", "local_rank", "global_rank", "node_rank", "process_index",
    "local_process_index", "RANK", "LOCAL_RANK", "GLOBAL_RANK", "NODE_RANK", "WORLD_RANK",
    "proc_id", "process_rank",
})
NOT_RANK_NAMES = frozenset({"lora_rank", "tensor_rank", "matrix_rank", "src_rank",
                            "dst_rank", "peer_rank", "max_rank", "min_rank"})
MAIN_PREDICATES = frozenset({
    "is_main_process", "is_local_main_process", "is_global_zero", "is_master",
    "is_main", "is_main_rank", "is_rank_zero", "is_rank_0", "is_master_ordinal",
    "is_world_process_zero", "is_local_process_zero", "main_process", "master_process",
    "is_master_process", "is_local_master", "is_chief", "on_main_process",
    "is_last_process",
})
RANK_ENV_KEYS = frozenset({
    "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "SLURM_LOCALID",
    "SLURM_NODEID", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK",
    "MV2_COMM_WORLD_RANK",
})
ENV_READS = frozenset({"os.environ[]", "os.environ.get()", "os.getenv()", "environ[]",
                       "environ.get()", "getenv()"})
# Tests that are true whenever collectives can run at all: not rank predicates.
DIST_READY = frozenset({"is_initialized", "is_available", "is_dist_avail_and_initialized",
                        "is_distributed", "is_torch_distributed_available"})
# Decorators that run the function on one process only.
ONE_RANK_DECORATORS = frozenset({
    "rank_zero_only", "on_main_process", "on_local_main_process", "on_last_process",
    "master_only", "main_process_only", "rank_zero_first",
})
# Context managers inside which a DDP forward skips synchronisation.
NO_SYNC = "no_sync"

# Process groups: created by these, torn down by these.
PROCESS_GROUP_INIT = frozenset({f"{_DIST}.init_process_group", "deepspeed.init_distributed",
                                "deepspeed.comm.init_distributed"})
PROCESS_GROUP_DESTROY = frozenset({f"{_DIST}.destroy_process_group",
                                   "deepspeed.comm.destroy_process_group"})
AT_EXIT = "atexit.register"

# CUDA: calls that create (or need) a CUDA context in the calling process.
CUDA_INITIALISERS = frozenset(f"torch.cuda.{name}" for name in (
    "init", "set_device", "current_device", "synchronize", "empty_cache", "mem_get_info",
    "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
    "get_device_properties", "get_device_name", "get_device_capability", "Stream", "Event",
    "current_stream", "default_stream", "stream", "ipc_collect", "reset_peak_memory_stats",
    "set_rng_state", "get_rng_state", "get_rng_state_all", "set_rng_state_all",
    "is_bf16_supported", "FloatTensor", "HalfTensor", "LongTensor", "IntTensor",
    "ByteTensor", "BoolTensor", "DoubleTensor", "BFloat16Tensor", "device",
    "memory_stats", "utilization",
))
CUDA_METHODS = frozenset({"cuda", "pin_memory"})  # tensor/module methods
CUDA_DEVICE_KEYWORDS = ("device",)  # `torch.zeros(3, device="cuda")`
DEVICE_MOVES = frozenset({"to"})  # `x.to("cuda")`

# Data loading.
DATALOADER = "torch.utils.data.DataLoader"
DATASET_BASES = frozenset({"torch.utils.data.Dataset", "torch.utils.data.IterableDataset",
                           "torch.utils.data.TensorDataset"})
ITERABLE_DATASET_BASES = frozenset({"torch.utils.data.IterableDataset"})
WORKER_METHODS = ("__getitem__", "__getitems__", "__iter__")
SHARDING_CALLS = frozenset({
    "torch.utils.data.get_worker_info", "datasets.distributed.split_dataset_by_node",
    "webdataset.split_by_worker", "webdataset.shardlists.split_by_worker",
})
SHARDING_METHODS = frozenset({"get_worker_info", "split_dataset_by_node", "split_by_worker",
                              "sharding_filter", "shard", "ShardingFilter"})
# DataLoader arguments.
NUM_WORKERS, MP_CONTEXT, COLLATE_FN, WORKER_INIT_FN = (
    "num_workers", "multiprocessing_context", "collate_fn", "worker_init_fn")

# Random number generators. Objects made by these carry their own state, copied as is
# into every forked worker.
RNG_FACTORIES = frozenset({
    "numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator",
    "random.Random", "torch.Generator", "torch.Generator.manual_seed",
})
RNG_NOT_DRAWS = frozenset({"seed", "manual_seed", "set_state", "setstate", "get_state",
                           "getstate", "initial_seed", "bit_generator", "spawn",
                           "get_state_dict"})
SEEDERS = frozenset({"numpy.random.seed", "random.seed", "torch.manual_seed",
                     "torch.random.manual_seed"})
NUMPY_GLOBAL_DRAWS = frozenset(f"numpy.random.{name}" for name in (
    "rand", "randn", "randint", "random", "random_sample", "ranf", "sample", "choice",
    "shuffle", "permutation", "uniform", "normal", "binomial", "poisson", "beta", "gamma",
    "exponential", "standard_normal", "bytes", "multinomial", "dirichlet", "lognormal",
    "random_integers", "laplace", "geometric", "triangular",
))

# Processes: how a child is started, and which calls hand it a function to run.
GET_CONTEXT = "multiprocessing.get_context"
SET_START_METHOD = "multiprocessing.set_start_method"
PROCESS = "multiprocessing.Process"
POOLS = frozenset({"multiprocessing.pool.Pool", "concurrent.futures.ProcessPoolExecutor"})
POOL_SUBMITS = frozenset(
    [f"multiprocessing.pool.Pool.{n}" for n in (
        "map", "imap", "imap_unordered", "starmap", "apply", "apply_async", "map_async",
        "starmap_async")]
    + ["concurrent.futures.ProcessPoolExecutor.submit",
       "concurrent.futures.ProcessPoolExecutor.map"])
SPAWNERS = frozenset({"multiprocessing.spawn", "multiprocessing.start_processes"})

KNOWN_CLASSES = frozenset({
    _DDP, _FSDP, "accelerate.Accelerator", "accelerate.PartialState", _FABRIC, _TRAINER,
    DATALOADER, "torch.Generator", "numpy.random.RandomState", "numpy.random.Generator",
    "random.Random",
})

API_TABLES: tuple[object, ...] = (
    COLLECTIVES, POINT_TO_POINT, PROCESS_GROUP_INIT, PROCESS_GROUP_DESTROY,
    CUDA_INITIALISERS, SHARDING_CALLS, RNG_FACTORIES, SEEDERS, NUMPY_GLOBAL_DRAWS,
    POOL_SUBMITS, POOLS, SPAWNERS, KNOWN_CLASSES,
    frozenset({AT_EXIT, GET_CONTEXT, SET_START_METHOD, PROCESS, SYNC_LOG}),
)
