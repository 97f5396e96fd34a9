"""Measured memory: the real forward (or training step) run, its live memory measured.

The analytic figures (:mod:`incprof.analysis.memory`, :mod:`incprof.analysis.training`)
come from a meta-device trace. Here the model is built with random weights and run on
real tensors, and the live **activation** memory of that pass is measured: what was
allocated during it beyond the input, parameters and buffers that existed before (in a
training step, gradients count, as in the analytic ``step_peak_bytes``). Four methods,
each a column of :meth:`MeasuredMemory.record`, None with its reason where it could not run:

1. ``tracker``: a ``TorchFunctionMode`` that takes a weak reference on the storage of every
   tensor a torch function returns and sums the live bytes; the peak is the largest sum
   after a call. Not a ``TorchDispatchMode``: a Python dispatch mode changes what eager
   PyTorch does (autograd then sums a gradient two consumers send out of place, ``add``,
   a new buffer, where it otherwise adds in place, ``add_``). It sees every tensor that
   reaches Python, with its real CPU kernel and real lifetime. In a training step it
   also sees what autograd saves (``saved_tensors_hooks``: batch norm's saved mean and
   inverse std, max-pool indices, which never reach Python otherwise) and, in the
   backward, the gradients each autograd node receives and returns (node hooks) and
   each parameter's accumulated ``.grad``. It cannot see temporaries made and freed
   inside one torch function or one backward node: the int64 indices an eval
   ``max_pool2d`` computes and drops on the CPU (torch takes the with-indices path
   there too; the profiler and the process's peak RSS show them), oneDNN's weight
   reorders, a composite's intermediates. So it is the analytic peak less the storages
   that never outlive the op that made them: a lower bound, equal where no such
   temporary is alive at the peak.
2. ``profiler``: ``torch.profiler`` with ``profile_memory=True``: every CPU allocation
   and free the allocator reports, in time order; the peak of their running sum. It
   sees everything, the transient max-pool indices (as the analytic trace counts them)
   and kernels' workspace, which no tensor holds: oneDNN's copy
   of a convolution's weight in its blocked layout (measured: the gap above the
   analytic ``cuda`` peak is exactly the largest weight for the single-convolution
   factorization variants, 7,225,344 bytes for ``asym_7_conv7x7``, the same at batch 1
   and 8) and blocked-layout copies of strided convolutions' inputs and outputs (the
   grid-reduction variants, up to 7.4 MB at batch 8); 512 bytes on ``inception_v3``.
3. ``memtracker``: ``torch.distributed._tools.mem_tracker.MemTracker`` where it imports:
   a ``TorchDispatchMode`` that tracks storages by category (parameters, buffers, input
   as ``Other``, ``Activation`` in the forward, ``Temp`` and ``Gradient`` in the backward);
   its peak on the CPU is the largest total of those categories (no allocator rounding
   off CUDA), less what was live before the pass, i.e. the largest sum of activations,
   temporaries and gradients. Being a dispatch mode, it sees the transient max-pool
   indices, as the trace does, and autograd's out-of-place gradient sums (which the
   analytic step peak counts in place, as eager PyTorch does them): it matches the
   analytic eval peak exactly.
4. ``cuda``: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, less
   ``memory_allocated`` before the pass, with the model on the GPU; only with
   ``device="cuda"`` and a GPU present. It includes the caching allocator's 512-byte
   rounding and cuDNN workspace.

The three CPU methods always run on the CPU. A pass that would not fit in RAM (the
analytic estimate of parameters, buffers, input and activation peak against
``MemAvailable``, 80% of it at most) is not run; a pass that raises gives its error's one
line.
"""

from __future__ import annotations

import copy
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch._C._autograd import DeviceType
from torch.overrides import TorchFunctionMode

from incprof.analysis.memory import memory
from incprof.analysis.trace import tensor_leaves, trace_module, trace_variant
from incprof.analysis.training import step_memory
from incprof.errors import error_line
from incprof.registry import InputShape, Variant

# Refuse a pass whose estimated need exceeds this share of the memory available: the
# estimate leaves out kernels' workspace and the interpreter's own growth.
RAM_HEADROOM = 0.8
GIB = 2**30

METHODS = ("tracker", "profiler", "memtracker", "cuda")
PASS_NOTE = {
    False: "bytes allocated during the eval forward beyond input, parameters and buffers",
    True: "bytes allocated during the training step (gradients included) beyond input,"
    " parameters and buffers",
}
METHOD_NOTES = {
    "tracker": "tracker: storages of the tensors torch functions return (in training also"
    " what autograd saves and the backward's gradients), blind to temporaries inside one"
    " call such as max-pool indices",
    "profiler": "profiler: CPU allocator events, max-pool indices and kernels' workspace"
    " (oneDNN weight reorders) included",
    "memtracker": "memtracker: MemTracker, a dispatch mode (sees max-pool indices; sums"
    " gradients out of place, where eager PyTorch sums in place)",
    "cuda": "cuda: max_memory_allocated delta, caching allocator's 512-byte rounding included",
}


@dataclass(frozen=True)
class MeasuredMemory:
    """Measured activation peaks (bytes) of one pass, None where a method could not run."""

    tracker_peak_bytes: int | None
    profiler_peak_bytes: int | None
    memtracker_peak_bytes: int | None
    cuda_peak_bytes: int | None
    notes: str

    def record(self) -> dict[str, Any]:
        """The flat keys other commands join to their rows."""
        return {
            "measured_tracker_peak_bytes": self.tracker_peak_bytes,
            "measured_profiler_peak_bytes": self.profiler_peak_bytes,
            "measured_memtracker_peak_bytes": self.memtracker_peak_bytes,
            "measured_cuda_peak_bytes": self.cuda_peak_bytes,
            "measured_notes": self.notes,
        }


class _LiveStorages:
    """Bytes of the storages seen so far that are still alive, each counted once.

    Storages that existed before the pass (input, parameters, buffers) are known from
    the start and never counted; a view of one adds nothing.
    """

    def __init__(self, existing: Iterable[torch.Tensor]) -> None:
        self.refs: dict[int, weakref.ref[Any]] = {}
        self.live = 0
        self.peak = 0
        for tensor in existing:
            self._note(tensor, counted=False)

    def add(self, value: Any) -> None:
        for tensor in tensor_leaves(value):
            self._note(tensor, counted=True)

    def mark(self) -> None:
        self.peak = max(self.peak, self.live)

    def _note(self, tensor: Any, counted: bool) -> None:
        if not isinstance(tensor, torch.Tensor) or tensor.layout != torch.strided:
            return
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self.refs:
            return
        nbytes = storage.nbytes() if counted else 0
        self.refs[key] = weakref.ref(storage, self._freed(key, nbytes))
        self.live += nbytes

    def _freed(self, key: int, nbytes: int) -> Callable[[Any], None]:
        def freed(ref: Any) -> None:
            if self.refs.get(key) is ref:  # an address reused by a newer storage stays
                del self.refs[key]
                self.live -= nbytes

        return freed


class _StorageTracker(TorchFunctionMode):
    """Method 1: every tensor a torch function returns, by storage, live bytes summed."""

    def __init__(self, live: _LiveStorages) -> None:
        super().__init__()
        self.live = live

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.live.add(out)
        self.live.mark()
        return out


def _loss(out: Any) -> torch.Tensor:
    """The sum of every output leaf that needs a gradient (aux heads included)."""
    heads = [t for t in tensor_leaves(out) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not heads:
        raise ValueError("a training step needs an output that depends on parameters")
    loss = heads[0].sum()
    for head in heads[1:]:
        loss = loss + head.sum()
    return loss


def _graph_nodes(root: Any) -> Iterator[Any]:
    """Every autograd node reachable from ``root``, once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(next_node for next_node, _ in node.next_functions)


def _run(
    model: nn.Module,
    x: torch.Tensor,
    train: bool,
    live: _LiveStorages | None = None,
) -> None:
    """One eval forward under no_grad, or a training step (forward, loss, backward);
    with ``live``, every tensor the pass makes is shown to it (method 1)."""
    if not train:
        with torch.no_grad(), _StorageTracker(live) if live is not None else nullcontext():
            model(x)
        return
    if live is None:
        with torch.enable_grad():
            out = model(x)  # alive through the backward, as in a training loop
            _loss(out).backward()
        return

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        live.add(tensor)
        return tensor

    def node_done(grad_inputs: Any, grad_outputs: Any) -> None:
        live.add(grad_outputs)
        live.add(grad_inputs)
        live.mark()

    def accumulated(param: torch.Tensor) -> None:
        live.add(param.grad)
        live.mark()

    with torch.enable_grad():
        with _StorageTracker(live), torch.autograd.graph.saved_tensors_hooks(pack, _unpack):
            out = model(x)  # alive through the backward, as in a training loop
            loss = _loss(out)
        hooks = [node.register_hook(node_done) for node in _graph_nodes(loss.grad_fn)]
        hooks += [
            p.register_post_accumulate_grad_hook(accumulated)
            for p in model.parameters()
            if p.requires_grad
        ]
        try:
            loss.backward()
        finally:
            for hook in hooks:
                hook.remove()


def _unpack(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _tracker_peak(model: nn.Module, x: torch.Tensor, train: bool) -> int:
    live = _LiveStorages(_existing(model, x))
    _run(model, x, train, live)
    return live.peak


def _existing(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    return [x, *model.parameters(), *model.buffers()]


@contextmanager
def _kineto_quiet() -> Iterator[None]:
    """Kineto logs its start and stop on file descriptor 2 from C++, past Python's
    ``sys.stderr``: point the descriptor at /dev/null while the profiler runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _profiler_peak(model: nn.Module, x: torch.Tensor, train: bool) -> int:
    """Method 2: the running sum of the CPU allocator's events, at its largest."""
    from torch.profiler import ProfilerActivity, profile

    with _kineto_quiet(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _run(model, x, train)
    events = [
        e
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == DeviceType.CPU
    ]
    events.sort(key=lambda e: e.start_ns())
    now = peak = 0
    for event in events:
        now += event.nbytes()
        peak = max(peak, now)
    return peak


def _memtracker_peak(model: nn.Module, x: torch.Tensor, train: bool) -> int:
    """Method 3: MemTracker's peak total, less its total before the pass."""
    from torch.distributed._tools.mem_tracker import MemTracker

    tracker = MemTracker()
    tracker.track_external(model, x)
    device = x.device
    with tracker:
        before = tracker.get_tracker_snapshot("current").get(device, {}).get("Total", 0)
        _run(model, x, train)
    peak = tracker.get_tracker_snapshot("peak").get(device, {}).get("Total", 0)
    return peak - before


def _cuda_peak(model: nn.Module, x: torch.Tensor, train: bool) -> int:
    """Method 4: the CUDA caching allocator's peak during the pass, less what was before."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    _run(model, x, train)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` in bytes; None where the kernel does not say (not Linux)."""
    try:
        lines = meminfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


@dataclass(frozen=True)
class _Estimate:
    """The analytic bytes a measured pass needs, from the meta-device trace."""

    needed_bytes: int  # parameters + buffers + input + activation (or step) peak
    optimizer_state_bytes: int  # a training step's optimizer, not allocated here


def _estimate(
    subject: Variant | nn.Module, shape: InputShape, batch: int, train: bool, optimizer: str
) -> _Estimate:
    if isinstance(subject, Variant):
        trace = trace_variant(subject, input_shape=shape, batch=batch, training=train)
    else:
        trace = trace_module(subject, shape, batch=batch, training=train)
    if train:
        step = step_memory(trace, optimizer=optimizer)
        fixed = step.parameter_bytes + step.buffer_bytes + step.input_bytes
        return _Estimate(fixed + step.step_peak_bytes, step.optimizer_state_bytes)
    analysis = memory(trace)
    fixed = analysis.parameter_bytes + analysis.buffer_bytes + analysis.input_bytes
    return _Estimate(fixed + analysis.activation_peak_bytes, 0)


def _not_run(reason: str) -> MeasuredMemory:
    return MeasuredMemory(None, None, None, None, reason)


@contextmanager
def _prepared(model: nn.Module, train: bool) -> Iterator[None]:
    """The model in the pass's mode with no gradients; afterwards its modes, gradients
    and buffers (batch norm's running statistics, which a training step updates) as
    they were."""
    modes = [(module, module.training) for module in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()] if train else []
    model.train(train)
    _clear_grads(model)
    try:
        yield
    finally:
        for module, flag in modes:
            module.training = flag
        for p, grad in grads:
            p.grad = grad
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


def _clear_grads(model: nn.Module) -> None:
    for p in model.parameters():
        p.grad = None


def measure_memory(
    model_or_variant: Variant | nn.Module,
    input_shape: InputShape | None = None,
    *,
    batch: int = 1,
    train: bool = False,
    optimizer: str = "sgd",
    device: str = "cpu",
) -> MeasuredMemory:
    """Run the pass for real and measure its activation peak by each method.

    A registry :class:`Variant` is built (random weights); a module is run as it is,
    on the CPU, its modes, gradients and buffers restored afterwards. ``input_shape``
    (C, H, W) defaults to a variant's own. ``train``: a training step (train mode,
    forward, loss = the sum of every output that needs a gradient, backward); the
    optimizer's step is not run, its state (``optimizer``) is given in the notes from
    the closed form. ``device="cuda"`` adds the CUDA column. Threads are the caller's.
    """
    shape = _input_shape(model_or_variant, input_shape)
    try:
        estimate = _estimate(model_or_variant, shape, batch, train, optimizer)
    except (RuntimeError, ValueError) as error:
        return _not_run(f"not run: {error_line(error)}")
    available = available_bytes()
    if available is not None and estimate.needed_bytes > RAM_HEADROOM * available:
        return _not_run(
            f"not run: needs ~{estimate.needed_bytes / GIB:.1f} GiB,"
            f" {available / GIB:.1f} GiB available"
        )
    model = model_or_variant.build() if isinstance(model_or_variant, Variant) else model_or_variant
    x = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(0))
    notes = [PASS_NOTE[train]]
    if train:
        notes.append(
            f"{optimizer} optimizer state not allocated"
            f" ({estimate.optimizer_state_bytes} bytes in closed form)"
        )
    with _prepared(model, train):
        return _measure_prepared(model, x, train, device, notes)


def _input_shape(
    model_or_variant: Variant | nn.Module, input_shape: InputShape | None
) -> tuple[int, ...]:
    """The (C, H, W) to run at: a variant's own unless given; a module needs one given."""
    if isinstance(model_or_variant, Variant):
        return tuple(input_shape or model_or_variant.input_shape)
    if input_shape is None:
        raise ValueError("measuring a module needs its input shape (C, H, W)")
    return tuple(input_shape)


def _measure_prepared(
    model: nn.Module, x: torch.Tensor, train: bool, device: str, notes: list[str]
) -> MeasuredMemory:
    """Every method's peak for a model already in the pass's mode; ``notes`` grows."""
    peaks: dict[str, int | None] = dict.fromkeys(METHODS)
    try:
        peaks["tracker"] = _tracker_peak(model, x, train)
    except (RuntimeError, ValueError) as error:
        return _not_run(f"the pass raised {error_line(error)}")
    notes.append(METHOD_NOTES["tracker"])
    _clear_grads(model)
    for method, measure in (("profiler", _profiler_peak), ("memtracker", _memtracker_peak)):
        try:
            peaks[method] = measure(model, x, train)
            notes.append(METHOD_NOTES[method])
        except ImportError as error:
            notes.append(f"{method}: not available here ({error_line(error)})")
        except (RuntimeError, ValueError) as error:
            notes.append(f"{method}: {error_line(error)}")
        _clear_grads(model)
    peaks["cuda"] = _cuda_column(model, x, train, device, notes)
    return MeasuredMemory(
        peaks["tracker"], peaks["profiler"], peaks["memtracker"], peaks["cuda"], "; ".join(notes)
    )


def _cuda_column(
    model: nn.Module, x: torch.Tensor, train: bool, device: str, notes: list[str]
) -> int | None:
    """The CUDA peak of a copy of the model on the GPU, when asked and there is one."""
    if device != "cuda":
        notes.append(f"cuda: not asked (device {device!r})")
        return None
    if not torch.cuda.is_available():
        notes.append("cuda: no CUDA device")
        return None
    on_gpu = copy.deepcopy(model).to("cuda")
    peak = _cuda_peak(on_gpu, x.to("cuda"), train)
    notes.append(METHOD_NOTES["cuda"])
    return peak
