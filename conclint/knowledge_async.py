"""What conclint knows about asyncio and the ML serving APIs, as data.

The asyncio rules (CL4xx) read these tables; ``conclint.knowledge`` merges the types
below into its ``RETURNS``/``KNOWN_CLASSES`` so name resolution can see them. Names are
canonical: ``canonical()`` in ``conclint.knowledge`` maps every model class of
``transformers`` (``AutoModelForCausalLM``, ``LlamaForCausalLM`` ...) to
``transformers.PreTrainedModel`` through :func:`ml_family`, so the tables list each API
once. This module imports nothing from conclint, so any module may import it.

Users extend the blocking list with ``blocking-calls`` in ``[tool.conclint]``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quiet:
    """An argument that makes a blocking call return at once: ``get(block=False)``,
    ``time.sleep(0)``, ``os.waitpid(pid, os.WNOHANG)``. A *bounded* wait (``timeout=5``)
    still stalls the event loop, so only values that mean "do not wait" are listed."""

    keyword: str | None
    position: int | None
    values: tuple[object, ...] = (False, 0)
    names: tuple[str, ...] = ()  # dotted names, such as ``os.WNOHANG``


@dataclass(frozen=True, slots=True)
class LoopBlocker:
    """A call that stalls the event loop when made inside ``async def``."""

    what: str  # how the message names it; ``{recv}`` is the receiver's text
    instead: str  # the async equivalent, or how to move it off the loop
    quiet: tuple[Quiet, ...] = ()


TO_THREAD = "`await asyncio.to_thread(...)`"
_HTTP = "an async HTTP client (`httpx.AsyncClient`, `aiohttp`) or `await asyncio.to_thread(...)`"
_SOCKET = "`asyncio.open_connection()` streams or the `loop.sock_*()` coroutines"
_SUBPROCESS = "`await asyncio.create_subprocess_exec(...)`"
_QUEUE = "an `asyncio.Queue` (awaited), or `await asyncio.to_thread({recv}.{method})`"
_JOIN = "`await asyncio.to_thread({recv}.join)`"
_MODEL = "`await asyncio.to_thread(...)` (or an async engine), so other requests keep flowing"
_LOAD = "load it once at startup (in the lifespan handler), or `await asyncio.to_thread(...)`"

_AT_ONCE_0 = (Quiet("timeout", 0, (0,)),)  # wait(0), join(timeout=0)


def _loop_blockers() -> dict[str, LoopBlocker]:
    table: dict[str, LoopBlocker] = {
        "time.sleep": LoopBlocker("`time.sleep()`", "`await asyncio.sleep(...)`",
                                  (Quiet("secs", 0, (0,)),)),
        "builtins.input": LoopBlocker("`input()`", "`await asyncio.to_thread(input, ...)`"),
        "os.system": LoopBlocker("`os.system()`", _SUBPROCESS),
        "os.wait": LoopBlocker("`os.wait()`", TO_THREAD),
        "os.waitpid": LoopBlocker("`os.waitpid()`", TO_THREAD,
                                  (Quiet("options", 1, (), ("os.WNOHANG", "WNOHANG")),)),
        "subprocess.Popen.wait": LoopBlocker("`{recv}.wait()`", _SUBPROCESS, _AT_ONCE_0),
        "subprocess.Popen.communicate": LoopBlocker("`{recv}.communicate()`", _SUBPROCESS),
        "socket.create_connection": LoopBlocker("`socket.create_connection()`", _SOCKET),
        "socket.getaddrinfo": LoopBlocker("`socket.getaddrinfo()` (DNS)",
                                          "`await loop.getaddrinfo(...)`"),
        "socket.gethostbyname": LoopBlocker("`socket.gethostbyname()` (DNS)",
                                            "`await loop.getaddrinfo(...)`"),
        "urllib.request.urlopen": LoopBlocker("`urllib.request.urlopen()` (network I/O)", _HTTP),
        "urllib3.request": LoopBlocker("`urllib3.request()` (network I/O)", _HTTP),
        "urllib3.PoolManager.request": LoopBlocker("`{recv}.request()` (network I/O)", _HTTP),
        "urllib3.PoolManager.urlopen": LoopBlocker("`{recv}.urlopen()` (network I/O)", _HTTP),
        "smtplib.SMTP.sendmail": LoopBlocker("`{recv}.sendmail()` (network I/O)", TO_THREAD),
        "smtplib.SMTP.send_message": LoopBlocker("`{recv}.send_message()` (network I/O)",
                                                 TO_THREAD),
        "concurrent.futures.wait": LoopBlocker("`concurrent.futures.wait()`",
                                               "`await asyncio.wait(...)` on wrapped futures"),
        "concurrent.futures.Future.result": LoopBlocker(
            "`{recv}.result()` of a `concurrent.futures.Future`",
            "`await asyncio.wrap_future({recv})`", _AT_ONCE_0),
        "concurrent.futures.Future.exception": LoopBlocker(
            "`{recv}.exception()` of a `concurrent.futures.Future`",
            "`await asyncio.wrap_future({recv})`", _AT_ONCE_0),
        "multiprocessing.pool.AsyncResult.get": LoopBlocker("`{recv}.get()`", TO_THREAD,
                                                            _AT_ONCE_0),
        "multiprocessing.pool.AsyncResult.wait": LoopBlocker("`{recv}.wait()`", TO_THREAD,
                                                             _AT_ONCE_0),
        # PyTorch: device synchronisation and (de)serialisation.
        "torch.cuda.synchronize": LoopBlocker("`torch.cuda.synchronize()` (waits for the GPU)",
                                              TO_THREAD),
        "torch.cuda.Stream.synchronize": LoopBlocker("`{recv}.synchronize()` (waits for the GPU)",
                                                     TO_THREAD),
        "torch.cuda.Event.synchronize": LoopBlocker("`{recv}.synchronize()` (waits for the GPU)",
                                                    TO_THREAD),
        "torch.load": LoopBlocker("`torch.load()` (reads a checkpoint)", _LOAD),
        "torch.save": LoopBlocker("`torch.save()` (writes a checkpoint)", TO_THREAD),
        "torch.jit.load": LoopBlocker("`torch.jit.load()` (reads a model)", _LOAD),
        # Model inference and loading.
        "transformers.PreTrainedModel.generate": LoopBlocker(
            "`{recv}.generate()` (transformers generation: seconds of model compute)", _MODEL),
        "transformers.Pipeline.__call__": LoopBlocker(
            "`{recv}()` (transformers pipeline inference)", _MODEL),
        "transformers.pipeline": LoopBlocker(
            "`pipeline()` (loads a model, and may download it)", _LOAD),
        "peft.PeftModel.generate": LoopBlocker("`{recv}.generate()` (PEFT model generation)",
                                               _MODEL),
        "diffusers.DiffusionPipeline.__call__": LoopBlocker(
            "`{recv}()` (a diffusion pipeline: every denoising step)", _MODEL),
        "sentence_transformers.SentenceTransformer": LoopBlocker(
            "`SentenceTransformer()` (loads a model, and may download it)", _LOAD),
        "sentence_transformers.CrossEncoder": LoopBlocker(
            "`CrossEncoder()` (loads a model, and may download it)", _LOAD),
        "vllm.LLM": LoopBlocker("`LLM()` (loads a model into the GPU)", _LOAD),
        "llama_cpp.Llama": LoopBlocker("`Llama()` (loads a model)", _LOAD),
        "llama_cpp.Llama.__call__": LoopBlocker("`{recv}()` (llama.cpp inference)", _MODEL),
        "onnxruntime.InferenceSession": LoopBlocker("`InferenceSession()` (loads a model)", _LOAD),
        "onnxruntime.InferenceSession.run": LoopBlocker("`{recv}.run()` (ONNX Runtime inference)",
                                                        _MODEL),
        "whisper.load_model": LoopBlocker("`whisper.load_model()` (loads a model)", _LOAD),
        "whisper.transcribe": LoopBlocker("`whisper.transcribe()` (speech recognition)", _MODEL),
        "whisper.Whisper.transcribe": LoopBlocker("`{recv}.transcribe()` (speech recognition)",
                                                  _MODEL),
        "huggingface_hub.hf_hub_download": LoopBlocker(
            "`hf_hub_download()` (network I/O)", _LOAD),
        "huggingface_hub.snapshot_download": LoopBlocker(
            "`snapshot_download()` (network I/O)", _LOAD),
        "tensorflow.keras.models.load_model": LoopBlocker("`load_model()` (reads a model)", _LOAD),
        "jax.block_until_ready": LoopBlocker("`jax.block_until_ready()` (waits for the device)",
                                             TO_THREAD),
        "jax.device_get": LoopBlocker("`jax.device_get()` (waits for the device)", TO_THREAD),
        "ray.get": LoopBlocker("`ray.get()`", "`await ref` (Ray object refs are awaitable)"),
        "ray.wait": LoopBlocker("`ray.wait()`", "`await asyncio.wait([...])` on the refs"),
    }
    for name in ("encode", "encode_query", "encode_document"):
        table[f"sentence_transformers.SentenceTransformer.{name}"] = LoopBlocker(
            f"`{{recv}}.{name}()` (sentence-transformers embedding: model compute)",
            _MODEL)
    for name in ("predict", "rank"):
        table[f"sentence_transformers.CrossEncoder.{name}"] = LoopBlocker(
            f"`{{recv}}.{name}()` (cross-encoder scoring: model compute)", _MODEL)
    for name in ("generate", "chat", "encode", "embed", "classify", "score"):
        table[f"vllm.LLM.{name}"] = LoopBlocker(
            f"`{{recv}}.{name}()` (vLLM's synchronous engine)",
            "`vllm.AsyncLLMEngine`, or `await asyncio.to_thread(...)`")
    for name in ("create_completion", "create_chat_completion", "embed"):
        table[f"llama_cpp.Llama.{name}"] = LoopBlocker(
            f"`{{recv}}.{name}()` (llama.cpp inference)", _MODEL)
    for name in ("predict", "fit", "evaluate"):
        table[f"tensorflow.keras.Model.{name}"] = LoopBlocker(
            f"`{{recv}}.{name}()` (Keras model compute)", _MODEL)
    for name in ("get", "post", "put", "patch", "delete", "head", "options", "request"):
        table[f"requests.{name}"] = LoopBlocker(f"`requests.{name}()` (network I/O)", _HTTP)
        table[f"requests.Session.{name}"] = LoopBlocker(f"`{{recv}}.{name}()` (network I/O)",
                                                        _HTTP)
        table[f"httpx.{name}"] = LoopBlocker(f"`httpx.{name}()` (synchronous network I/O)", _HTTP)
        table[f"httpx.Client.{name}"] = LoopBlocker(
            f"`{{recv}}.{name}()` (a synchronous `httpx.Client`)", _HTTP)
    table["httpx.Client.send"] = LoopBlocker("`{recv}.send()` (a synchronous `httpx.Client`)",
                                             _HTTP)
    for connection in ("http.client.HTTPConnection", "http.client.HTTPSConnection"):
        for name in ("request", "getresponse", "connect"):
            table[f"{connection}.{name}"] = LoopBlocker(f"`{{recv}}.{name}()` (network I/O)",
                                                        _HTTP)
    for name in ("recv", "recv_into", "recvfrom", "accept", "connect", "sendall", "send"):
        table[f"socket.socket.{name}"] = LoopBlocker(f"`{{recv}}.{name}()` (socket I/O)",
                                                     _SOCKET)
    for name in ("run", "call", "check_call", "check_output"):
        table[f"subprocess.{name}"] = LoopBlocker(f"`subprocess.{name}()`", _SUBPROCESS)
    for queue_type in ("queue.Queue", "queue.LifoQueue", "queue.PriorityQueue",
                       "queue.SimpleQueue", "multiprocessing.Queue",
                       "multiprocessing.JoinableQueue", "multiprocessing.SimpleQueue"):
        table[f"{queue_type}.get"] = LoopBlocker(
            "blocking `{recv}.get()`", _QUEUE.replace("{method}", "get"),
            (Quiet("block", 0), Quiet("timeout", 1, (0,))))
        if queue_type != "multiprocessing.SimpleQueue":
            table[f"{queue_type}.put"] = LoopBlocker(
                "blocking `{recv}.put()`", _QUEUE.replace("{method}", "put"),
                (Quiet("block", 1), Quiet("timeout", 2, (0,))))
    for queue_type in ("queue.Queue", "multiprocessing.JoinableQueue"):
        table[f"{queue_type}.join"] = LoopBlocker("`{recv}.join()`", _JOIN)
    for thread_type in ("threading.Thread", "threading.Timer", "multiprocessing.Process"):
        table[f"{thread_type}.join"] = LoopBlocker("`{recv}.join()`", _JOIN, _AT_ONCE_0)
    for event_type in ("threading.Event", "multiprocessing.Event", "threading.Barrier",
                       "multiprocessing.Barrier"):
        table[f"{event_type}.wait"] = LoopBlocker(
            "`{recv}.wait()`", "an `asyncio.Event`, or `await asyncio.to_thread({recv}.wait)`",
            _AT_ONCE_0)
    for pool in ("multiprocessing.pool.Pool", "multiprocessing.pool.ThreadPool"):
        for name in ("map", "starmap", "apply", "join"):
            table[f"{pool}.{name}"] = LoopBlocker(
                f"`{{recv}}.{name}()`", f"`await asyncio.to_thread({{recv}}.{name}, ...)`")
    for executor in ("concurrent.futures.ThreadPoolExecutor",
                     "concurrent.futures.ProcessPoolExecutor"):
        table[f"{executor}.shutdown"] = LoopBlocker(
            "`{recv}.shutdown()` (waits for every pending job)",
            "`{recv}.shutdown(wait=False)`, or `await asyncio.to_thread({recv}.shutdown)`",
            (Quiet("wait", 0),))
    return table


LOOP_BLOCKERS: dict[str, LoopBlocker] = _loop_blockers()

# ``X.from_pretrained(...)`` of any class of these libraries reads (and may download) files.
PRETRAINED_LIBRARIES = ("transformers", "diffusers", "peft", "sentence_transformers")
FROM_PRETRAINED = LoopBlocker(
    "`{recv}.from_pretrained()` (loads model files, and may download them)", _LOAD)

# Tensor methods that copy a CUDA tensor to the host and so wait for the GPU.
DEVICE_SYNC_METHODS = frozenset({"item", "cpu", "numpy", "tolist"})
# Tensor methods whose result lives on the same device as their receiver.
SAME_DEVICE_METHODS = frozenset({
    "sum", "mean", "max", "min", "argmax", "argmin", "float", "half", "bfloat16", "long",
    "int", "detach", "clone", "softmax", "log_softmax", "squeeze", "unsqueeze", "view",
    "reshape", "flatten", "contiguous", "abs", "norm", "exp", "sigmoid", "round", "add",
    "sub", "mul", "div", "matmul", "pow", "topk", "sort",
})
# ``torch`` factories that take ``device=``.
TENSOR_FACTORIES = frozenset({
    "torch.tensor", "torch.as_tensor", "torch.zeros", "torch.ones", "torch.empty",
    "torch.full", "torch.rand", "torch.randn", "torch.randint", "torch.arange",
    "torch.linspace", "torch.zeros_like", "torch.ones_like", "torch.randn_like",
})

# Calls whose result is a known type (merged into ``knowledge.RETURNS``).
ASYNC_RETURNS: dict[str, str] = {
    "asyncio.run_coroutine_threadsafe": "concurrent.futures.Future",
    "transformers.PreTrainedModel.from_pretrained": "transformers.PreTrainedModel",
    "transformers.pipeline": "transformers.Pipeline",
    "peft.PeftModel.from_pretrained": "peft.PeftModel",
    "diffusers.DiffusionPipeline.from_pretrained": "diffusers.DiffusionPipeline",
    "whisper.load_model": "whisper.Whisper",
    "tensorflow.keras.models.load_model": "tensorflow.keras.Model",
    "torch.cuda.current_stream": "torch.cuda.Stream",
    "torch.cuda.default_stream": "torch.cuda.Stream",
}
# ``model.to("cuda")``, ``model.eval()`` ... return the model itself.
for _type in ("transformers.PreTrainedModel", "peft.PeftModel", "diffusers.DiffusionPipeline",
              "sentence_transformers.SentenceTransformer", "sentence_transformers.CrossEncoder"):
    for _method in ("to", "cuda", "cpu", "eval", "half", "float", "bfloat16", "train",
                    "requires_grad_"):
        ASYNC_RETURNS[f"{_type}.{_method}"] = _type

# Classes whose instances matter to the asyncio rules (merged into ``KNOWN_CLASSES``).
ASYNC_CLASSES = frozenset({
    "asyncio.TaskGroup", "transformers.PreTrainedModel", "transformers.Pipeline",
    "peft.PeftModel", "diffusers.DiffusionPipeline", "sentence_transformers.SentenceTransformer",
    "sentence_transformers.CrossEncoder", "vllm.LLM", "llama_cpp.Llama",
    "onnxruntime.InferenceSession", "httpx.Client", "urllib3.PoolManager",
    "http.client.HTTPConnection", "http.client.HTTPSConnection", "smtplib.SMTP",
    "torch.cuda.Stream", "torch.cuda.Event",
})

# Calls that schedule a task and return it: dropping the result loses the task (CL402).
TASK_CREATORS = frozenset({
    "asyncio.create_task", "asyncio.ensure_future", "asyncio.AbstractEventLoop.create_task",
})

# Where an API takes a callable to run later or elsewhere: (position, keyword) (CL404).
CALLABLE_SLOTS: dict[str, tuple[int, str]] = {
    "asyncio.AbstractEventLoop.run_in_executor": (1, "func"),
    "asyncio.to_thread": (0, "func"),
    "asyncio.AbstractEventLoop.call_soon": (0, "callback"),
    "asyncio.AbstractEventLoop.call_soon_threadsafe": (0, "callback"),
    "asyncio.AbstractEventLoop.call_later": (1, "callback"),
    "asyncio.AbstractEventLoop.call_at": (1, "callback"),
    "concurrent.futures.ThreadPoolExecutor.submit": (0, "fn"),
    "concurrent.futures.ProcessPoolExecutor.submit": (0, "fn"),
    "multiprocessing.pool.Pool.apply_async": (0, "func"),
    "multiprocessing.pool.ThreadPool.apply_async": (0, "func"),
    "starlette.concurrency.run_in_threadpool": (0, "func"),
    "fastapi.concurrency.run_in_threadpool": (0, "func"),
    "anyio.to_thread.run_sync": (0, "func"),
}

# asyncio's submodules and its concrete loop are the public API under another name (so code
# importing from them, and the analysed standard library itself, reads like the tables).
ASYNC_PREFIX_ALIASES = {
    "asyncio.base_events.BaseEventLoop": "asyncio.AbstractEventLoop",
    "asyncio.events": "asyncio",
    "asyncio.tasks": "asyncio",
    "asyncio.futures": "asyncio",
    "asyncio.threads": "asyncio",
    "asyncio.taskgroups": "asyncio",
}

# Web frameworks' startup/shutdown hooks: the server does not serve requests while they
# run, so blocking there stalls nobody (CL401 stays quiet in them).
STARTUP_KEYWORDS = frozenset({"lifespan", "on_startup", "on_shutdown"})  # FastAPI(lifespan=f)
STARTUP_EVENTS = frozenset({"startup", "shutdown"})  # @app.on_event("startup")
STARTUP_DECORATORS = frozenset({"on_event"})
STARTUP_SIGNALS = frozenset({"on_startup", "on_shutdown", "on_cleanup", "cleanup_ctx"})  # aiohttp

# ---------------------------------------------------------------- class families
def _names_a_head(cls: str) -> bool:
    """``BertForSequenceClassification``: ``For`` then a capital names a model head."""
    at = cls.find("For", 1)
    while at > 0:
        if cls[at + 3:at + 4].isupper():
            return True
        at = cls.find("For", at + 1)
    return False


def _transformers_family(cls: str) -> str | None:
    if cls.endswith("Pipeline"):
        return "transformers.Pipeline"
    if (cls.startswith(("AutoModel", "TFAutoModel", "FlaxAutoModel")) or _names_a_head(cls)
            or cls.endswith("Model")):
        return "transformers.PreTrainedModel"
    if cls.startswith("AutoTokenizer") or cls.endswith(("Tokenizer", "TokenizerFast")):
        return "transformers.PreTrainedTokenizerBase"
    return None


def _family(library: str, cls: str) -> str | None:
    if library == "transformers":
        return _transformers_family(cls)
    if library == "diffusers" and cls.endswith("Pipeline"):
        return "diffusers.DiffusionPipeline"
    if library == "peft" and cls.startswith("PeftModel"):
        return "peft.PeftModel"
    return None


def ml_family(name: str) -> str:
    """``transformers.LlamaForCausalLM.generate`` -> ``transformers.PreTrainedModel.generate``.

    The first capitalised segment of a ``transformers``/``diffusers``/``peft`` name is a
    class; the libraries' naming conventions say which family it belongs to (models end in
    ``Model`` or name their head, ``ForCausalLM``; pipelines end in ``Pipeline``)."""
    library, _, rest = name.partition(".")
    if library not in ("transformers", "diffusers", "peft") or not rest:
        return name
    parts = rest.split(".")
    for index, part in enumerate(parts):
        if part[:1].isupper():
            family = _family(library, part)
            if family is None:
                return name
            return ".".join([family, *parts[index + 1:]])
    return name
