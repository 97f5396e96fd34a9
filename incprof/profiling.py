"""``incprof.profile(model, *inputs)``: what one forward of any PyTorch model costs.

The one call users make first. The model is an ``nn.Module``, a registry name,
``package.module:callable``, ``torchvision:NAME``, ``timm:NAME`` or an ``.onnx`` path; the
inputs are example tensors (read for shape and dtype only) or shapes. The forward is traced
once on ``meta`` (:mod:`incprof.analysis.trace`), and the :class:`Profile` it returns holds
plain data: no reference to the user's model or tensors.

Inputs, and where the batch goes:

- a tensor is taken as it is (its first dimension, where it has two or more, is the batch
  the figures name); ``batch=`` does not change it;
- a shape, ``(3, 224, 224)`` or ``"1x128:int64"`` (dims joined by x, optional dtype),
  excludes the batch: ``batch=`` (default 1) is prepended;
- tuples, lists and dicts of those are passed as such; any other value (``scale=2.0``) is
  passed to ``forward`` as it is. Keyword arguments go to ``forward``: only ``batch`` and
  ``kwargs`` are incprof's own, and a forward argument of one of those names is given
  through ``kwargs={"batch": ...}``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from torch import nn

from incprof import profile_text
from incprof.analysis.analytic import CostAnalysis, cost
from incprof.analysis.gc_pause import without_gc
from incprof.analysis.inputs import as_inputs, is_lazy, make_inputs, materialized, specs_of
from incprof.analysis.meta_build import in_eval_mode
from incprof.analysis.trace import Trace, meta_copy, meta_model, trace_module, trace_variant
from incprof.errors import InputError, RegistryError, error_line, needs_real_data
from incprof.parse import Inputs, TensorSpec
from incprof.registry import InputShape, Variant
from incprof.sources import resolve

if TYPE_CHECKING:
    import pandas

    from incprof.analysis.memory import MemoryAnalysis
    from incprof.analysis.predict import Prediction
    from incprof.analysis.profiles import DeviceProfile
    from incprof.analysis.receptive_field import ReceptiveFieldAnalysis
    from incprof.analysis.training import StepMemory

T = TypeVar("T")


@dataclass(frozen=True)
class Params:
    """Parameter counts, each tensor once however many modules share it (ties)."""

    trainable: int  # requires_grad
    frozen: int  # requires_grad False
    buffers: int  # elements of buffers (batch-norm statistics …), not parameters
    used: int  # parameters the traced forward read (aux heads out in eval)

    @property
    def total(self) -> int:
        return self.trainable + self.frozen


@dataclass(frozen=True, eq=False)
class Profile:
    """What one eval forward costs, as plain data (see :func:`profile`).

    ``macs`` are conv + linear (and matmul, attention) multiply-accumulates, bias adds
    excluded; ``flops`` = 2 × ``macs``; everything else is ``other_ops``. ``batch`` is the
    batch the figures are for (the whole batch, not per sample).
    """

    name: str
    inputs: str  # what the forward was given, e.g. '3x224x224' or '1x128:int64, mask=…'
    batch: int
    device: str  # where the trace ran: 'meta', or 'cpu' for a forward that reads values
    notes: tuple[str, ...]
    trace: Trace = field(repr=False)
    _spec: Inputs = field(repr=False)
    _source: _Source = field(repr=False)

    @cached_property
    def cost(self) -> CostAnalysis:
        """The priced trace, on first use: a command that asks one other analyzer of a
        profile does not price it."""
        return cost(self.trace)

    @property
    def macs(self) -> int:
        return self.cost.macs

    @property
    def flops(self) -> int:
        """2 × MACs (a multiply and an add each): the FLOPs convention papers use."""
        return self.cost.flops

    @property
    def other_ops(self) -> int:
        """Element operations outside MACs (activations, norms, pools, adds)."""
        return self.cost.other_ops

    @property
    def params(self) -> Params:
        parameters = self.trace.parameters
        buffers = sum(
            s.nbytes // s.dtype.itemsize
            for s in self.trace.storages
            if s.role == "buffer" and s.producer is None
        )
        return Params(
            trainable=sum(p.numel for p in parameters if p.trainable),
            frozen=sum(p.numel for p in parameters if not p.trainable),
            buffers=buffers,
            used=self.cost.params,
        )

    def by_module(self, depth: int | None = 2) -> list[dict[str, Any]]:
        """One row per module at most ``depth`` deep (None: all), its subtree's totals."""
        return self.cost.by_module(depth)

    def by_operator(self) -> dict[str, dict[str, int]]:
        """Per ATen operator: ``{"calls", "macs", "other_ops"}``."""
        return self.cost.by_operator()

    @property
    def unknown_ops(self) -> dict[str, dict[str, Any]]:
        """Operators no formula prices (never counted as zero): how often each ran, and
        in which modules (``(root)``: the model's own forward)."""
        found: dict[str, dict[str, Any]] = {}
        for record in self.cost.records:
            if not record.known:
                entry = found.setdefault(record.operator, {"count": 0, "modules": []})
                entry["count"] += 1
                if record.module not in entry["modules"]:
                    entry["modules"].append(record.module)
        return found

    @property
    def memory(self) -> MemoryAnalysis:
        """Activation peak, bytes moved and arithmetic intensity, in fp32 (unfused eager:
        see :mod:`incprof.analysis.memory`); ``memory_in(dtype)`` for another dtype."""
        return self.memory_in("fp32")

    def memory_in(self, dtype: str) -> MemoryAnalysis:
        from incprof.analysis.memory import memory

        return memory(self.trace, dtype=dtype)

    def analysis(self, name: str, **options: Any) -> Any:
        """Any registered analyzer (``incprof.analysis.ANALYZERS``; a training step's for
        ``STEP_ANALYZERS``) on this profile's trace, given ``options``: an analyzer added
        in one module and one registration line is reachable here with no other edit."""
        from incprof.analysis import STEP_ANALYZERS, analyzer

        try:
            run = analyzer(name)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return run(self._retrace(self.batch, training=name in STEP_ANALYZERS), **options)

    def figures(self, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Each registered analyzer's flat record (its result's ``summary()``), by name;
        ``names`` picks some (default: all). One that does not apply to this model (a
        receptive field of a text model) gives ``{"skipped": why}``, never a guess."""
        from incprof.analysis import registered

        chosen = tuple(names) if names is not None else registered()
        unknown = [n for n in chosen if n not in registered()]
        if unknown:
            raise InputError(
                f"unknown analyzer {unknown[0]!r}; choose from {', '.join(registered())}"
            )
        return {name: self._figures_of(name) for name in chosen}

    def _figures_of(self, name: str) -> dict[str, Any]:
        try:
            return dict(self.analysis(name).summary())
        except (InputError, ValueError, RuntimeError, NotImplementedError) as exc:
            return {"skipped": error_line(exc)}

    def _retrace(self, batch: int, *, training: bool = False) -> Trace:
        if self._source.module is None and self._source.variant is None:
            raise InputError(
                f"{self.name} was profiled by one real CPU run (it reads tensor values): "
                "only that run's figures are known"
            )
        if batch != self.batch and not any(s.batched for s in self._spec.specs()):
            raise InputError("another batch needs shapes; tensors are taken as they are")
        if batch == self.batch and not training:
            return self.trace
        return self._source.trace(self._spec, batch, training=training)

    def training_step(self, optimizer: str = "sgd", *, dtype: str = "fp32") -> StepMemory:
        """What one training step holds (forward in train mode, the backward of the sum of
        the outputs, ``optimizer``'s state: sgd with momentum, adam), by kind."""
        from incprof.analysis.training import OPTIMIZERS, step_memory

        if optimizer not in OPTIMIZERS:
            raise InputError(
                f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}"
            )
        return step_memory(
            self._retrace(self.batch, training=True), optimizer=optimizer, dtype=dtype
        )

    def predict(
        self,
        device: str | DeviceProfile = "h100-sxm",
        *,
        dtype: str | None = None,
        batch: int | None = None,
        mode: str = "eager",
    ) -> Prediction:
        """The predicted forward time on a device profile (a built-in name, 'cpu', a
        profile file or a ``DeviceProfile``), in ``dtype`` (default: bf16 on a GPU, fp32 on
        a CPU) and ``mode`` (eager, graph, compile); ``batch`` retraces at another batch
        (shapes only)."""
        from incprof.analysis.devices import resolve as resolve_profile
        from incprof.analysis.predict import MODES, predict

        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        chosen = resolve_profile(device)
        dtype = dtype or chosen.default_dtype()
        return predict(self._retrace(batch or self.batch), chosen, dtype=dtype, mode=mode)

    def receptive_field(self) -> ReceptiveFieldAnalysis:
        """Receptive field per end point and of the final feature map: for a conv net on
        an image input (N, C, H, W) only."""
        from incprof.analysis.receptive_field import receptive_fields

        first = self.trace.input
        convs = any(op.name == "convolution" for op in self.trace.ops)
        if first.ndim != 4 or not first.dtype.is_floating_point or not convs:
            raise InputError(
                f"a receptive field needs a conv net on an image input (N, C, H, W); "
                f"{self.name} takes {self.inputs} and has "
                f"{'convolutions' if convs else 'no convolution'}"
            )
        return receptive_fields(self.trace)

    def summary(self) -> dict[str, Any]:
        """One flat record: the totals, units in the keys."""
        params = self.params
        figures = self.memory
        return {
            "model": self.name,
            "inputs": self.inputs,
            "batch": self.batch,
            "device": self.device,
            "macs": self.macs,
            "flops": self.flops,
            "other_ops": self.other_ops,
            "params": params.total,
            "params_trainable": params.trainable,
            "params_frozen": params.frozen,
            "params_used": params.used,
            "buffers": params.buffers,
            "activation_peak_bytes_fp32": figures.activation_peak_bytes,
            "bytes_moved_fp32": figures.bytes_moved,
            "arithmetic_intensity_fp32": figures.arithmetic_intensity,
            "unknown_ops": {k: v["count"] for k, v in self.unknown_ops.items()},
            "notes": list(self.notes),
        }

    def to_json(self, *, depth: int | None = None) -> str:
        """The summary, per-module rows and per-operator totals, as one JSON object."""
        rows = [{**r, "output_shape": list(r["output_shape"])} for r in self.by_module(depth)]
        return json.dumps(
            {
                **self.summary(),
                "unknown_ops": self.unknown_ops,
                "by_module": rows,
                "by_operator": self.by_operator(),
            },
            indent=2,
        )

    def to_pandas(self, depth: int | None = None) -> pandas.DataFrame:
        """Per-module rows as a DataFrame (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise InputError("to_pandas() needs pandas: pip install pandas") from None
        return pandas.DataFrame(self.by_module(depth))

    def to_markdown(self, depth: int | None = 2) -> str:
        return profile_text.markdown(self, depth)

    def __str__(self) -> str:
        return profile_text.text(self)

    def _repr_html_(self) -> str:
        return profile_text.html(self)


@dataclass(frozen=True)
class _Source:
    """How to trace the model again (a training step, another batch): a meta copy of it
    (lazy modules materialised), or a registry variant (rebuilt; a file's has no module);
    never the user's own model. A module, where there is one, is what is traced."""

    name: str
    module: nn.Module | None = field(repr=False)
    variant: Variant | None = field(repr=False)
    end_points: tuple[str, ...] = ()
    # A variant's: the input as the registry's cache keys it, and the builder's overrides.
    input_shape: InputShape | Inputs | None = None
    overrides: Mapping[str, Any] | None = None
    guarded: bool = True  # False: a failing forward's error is the caller's to word

    def trace(self, spec: Inputs, batch: int, *, training: bool = False) -> Trace:
        """The trace at ``batch``; a forward that fails is one line (see :func:`_guard`)."""
        if self.module is None:
            assert self.variant is not None
            shape = self.input_shape or spec.first_shape()
            run = lambda: trace_variant(  # noqa: E731
                self.variant,
                input_shape=shape,
                batch=batch,
                overrides=self.overrides,
                training=training,
            )
        else:
            run = lambda: trace_module(  # noqa: E731
                self.module,
                spec,
                batch=batch,
                name=self.name,
                end_points=self.end_points,
                training=training,
            )
        return _guard(self.name, spec, run) if self.guarded else run()

    def kept(self) -> _Source:
        """What a profile keeps to trace again: a registry variant's meta build is let go
        (a retrace builds it anew, through the per-process trace cache), so its ~6,000
        objects die inside the collector's pause instead of being walked by every
        collection while the profile lives (in a process holding fvcore, a warm
        Inception-v3 analysis: 1% off the median, 9% off the mean, fewer full
        collections); a user's model is kept as its meta copy, which cannot be rebuilt."""
        if self.module is None or self.variant is None:
            return self
        return replace(self, module=None)


@without_gc
def profile(
    model: nn.Module | str,
    *inputs: Any,
    batch: int | None = None,
    kwargs: Mapping[str, Any] | None = None,
    **forward_kwargs: Any,
) -> Profile:
    """Profile one eval forward of ``model`` on ``inputs`` (see the module's docstring for
    what inputs may be and where the batch goes); a registry name without inputs takes
    its own default input. Bad input is an :class:`~incprof.errors.InputError` of one
    line. A forward that reads tensor values cannot run on ``meta``: it falls back to a
    real CPU run of the model, and the profile's ``notes`` (and a warning) say so."""
    named = dict(kwargs or {})
    clash = sorted(set(named) & set(forward_kwargs))
    if clash:
        raise InputError(f"forward argument {clash[0]!r} is given twice (kwargs= and as a name)")
    named.update(forward_kwargs)
    spec, live = specs_of(inputs, named, batch)
    original, name, variant = _load(model)
    if not spec.specs():
        if named or inputs:
            raise InputError("the inputs hold no tensor or shape to trace the model with")
        default = variant.input_for() if variant is not None else (3, 224, 224)
        spec = Inputs((TensorSpec(tuple(default)),))
    shown = (batch or 1) if any(s.batched for s in spec.specs()) else _tensor_batch(spec)
    notes: list[str] = []
    try:
        source = _source(original, name, variant, spec, shown)
        trace = source.trace(spec, shown)
        source = source.kept()
    except _NeedsValues as exc:
        real = original if original is not None else variant.build() if variant else None
        if real is None:
            raise InputError(str(exc)) from None
        note = f"{exc}; profiled by a real CPU run instead of on meta"
        warnings.warn(note, stacklevel=2)
        notes.append(note)
        source = _Source(name, None, None)
        trace = _real_run(real, name, spec, shown, live)
    return Profile(
        name=name,
        inputs=str(spec),
        batch=shown,
        device="cpu" if notes else "meta",
        notes=tuple(notes),
        trace=trace,
        _spec=spec,
        _source=source,
    )


def variant_profile(
    variant: Variant,
    input_shape: InputShape | Inputs | None = None,
    *,
    batch: int = 1,
    overrides: Mapping[str, Any] | None = None,
) -> Profile:
    """The :class:`Profile` of a resolved variant, the one every command reads: its trace
    comes from the per-process cache (:func:`~incprof.analysis.trace.trace_variant`), so
    the analyzers of one command share a pass. A forward that fails raises torch's error
    as it is, for the command to word with the input it was given."""
    shape = input_shape or variant.input_for(overrides)
    spec = as_inputs(shape)
    source = _Source(variant.name, None, variant, variant.end_points, shape, overrides, False)
    trace = source.trace(spec, batch)
    return Profile(variant.name, str(spec), batch, "meta", (), trace, spec, source)


def _tensor_batch(spec: Inputs) -> int:
    first = spec.specs()[0].shape
    return first[0] if len(first) >= 2 else 1


class _NeedsValues(InputError):
    """A meta forward failed for want of tensor values: a real CPU run can price it."""


def _guard(name: str, spec: Inputs, run: Callable[[], T]) -> T:
    """``run()``, with a forward that fails turned into one line."""
    try:
        return run()
    except (InputError, RegistryError):
        raise
    except Exception as exc:  # the user's forward raising is their model's, not a crash
        line = error_line(exc)[:200]
        if needs_real_data(exc):
            raise _NeedsValues(f"{name} reads tensor values in its forward ({line})") from None
        raise InputError(f"{name} failed on {spec}: {line}") from None


def _real_run(
    model: nn.Module, name: str, spec: Inputs, batch: int, live: tuple[Any, Any]
) -> Trace:
    """Trace on the CPU with the user's own top-level tensors (random ones for shapes)."""
    args = tuple(
        given if given is not None else a for given, a in zip(live[0], spec.args, strict=True)
    )
    named = tuple((k, live[1].get(k, v)) for k, v in spec.kwargs)
    return _guard(
        name,
        spec,
        lambda: trace_module(model, Inputs(args, named), batch=batch, name=name, device="cpu"),
    )


def _load(model: nn.Module | str) -> tuple[nn.Module | None, str, Variant | None]:
    """(the user's model where given one, its name, the variant a name resolves to)."""
    if isinstance(model, nn.Module):
        return model, type(model).__name__, None
    if not isinstance(model, str):
        raise InputError(f"model must be an nn.Module or a name, not a {type(model).__name__}")
    variant = resolve(model)
    return None, variant.name, variant


def _source(
    original: nn.Module | None, name: str, variant: Variant | None, spec: Inputs, batch: int
) -> _Source:
    """A meta copy to trace (and retrace): of the user's model, lazy modules made
    concrete at ``spec``, or the variant built on meta; an .onnx file has no module."""
    if variant is not None and variant.trace_source is not None:
        return _Source(name, None, variant, variant.end_points)
    end_points = variant.end_points if variant is not None else ()
    if original is None:
        assert variant is not None
        built = _guard(name, spec, lambda: in_eval_mode(meta_model(variant)))
        return _Source(name, built, variant, end_points, spec)
    if is_lazy(original):
        args, named = make_inputs(spec, batch)
        module = _guard(name, spec, lambda: materialized(original, args, named))
    else:
        module = meta_copy(original)
    return _Source(name, module, None, end_points)
