"""Receptive fields that stay right on branching and residual graphs.

Layer-chaining tools walk modules in call order and go wrong as soon as branches run side
by side. Here every tensor of one meta-device forward carries its own field, per axis:
size ``r``, effective stride ``S`` (jump) and effective padding ``P``, so that output
index ``i`` sees input indices ``i·S − P … i·S − P + r − 1`` (Araujo, Norris & Sim,
"Computing Receptive Fields of Convolutional Neural Networks", Distill 2019):

    r_out = r_in + (k_eff − 1)·S_in,   S_out = S_in·s,   P_out = P_in + p·S_in,
    k_eff = d·(k − 1) + 1.

Where tensors meet (concat, add, multiply) their strides must agree and their centres
(``(r − 1)/2 − P``) must coincide; the merged field is the largest. A merge that breaks
either rule is reported with the module where it happened, and every field downstream of it
is marked not aligned. A global pool (or a flatten) ends the field.

Some layers leave no such field. A stride-s transposed convolution (s > 1) feeds output
position ``o`` from the inputs ``i`` with ``o = i·s − p + t·d``, ``t < k``: the first of
them moves by one every s outputs, so the start of the field is a staircase in ``o``
(runs of s positions share it), and with k not a multiple of s the count alternates with
the phase too. Upsampling does the same. No (size, stride, padding) holds for every
position, so those maps and everything computed from them carry a :class:`NoField` with
the reason instead of a number. A stride-1 transposed convolution is a convolution with
the flipped kernel and padding ``d·(k − 1) − p``, and is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from incprof.analysis.trace import ROOT, OpCall, TensorInfo, Trace, trace_module, trace_variant
from incprof.registry import InputShape, Variant

aten = torch.ops.aten
Pair = tuple[int, int]


@dataclass(frozen=True)
class Field:
    """The receptive field of every position of one feature map, per axis (h, w)."""

    size: Pair
    stride: Pair
    padding: Pair
    # False once a merge of branches with different strides or centres fed this map.
    aligned: bool = True

    def centre2(self, axis: int) -> int:
        """Twice the centre offset of position 0, ``r − 1 − 2P``, kept an integer."""
        return self.size[axis] - 1 - 2 * self.padding[axis]

    def through(self, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1)) -> Field:
        """The field after a sliding window (convolution or pooling)."""
        k_eff = [dilation[a] * (kernel[a] - 1) + 1 for a in (0, 1)]
        return Field(
            size=_pair(self.size[a] + (k_eff[a] - 1) * self.stride[a] for a in (0, 1)),
            stride=_pair(self.stride[a] * stride[a] for a in (0, 1)),
            padding=_pair(self.padding[a] + padding[a] * self.stride[a] for a in (0, 1)),
            aligned=self.aligned,
        )


@dataclass(frozen=True)
class NoField:
    """A map whose positions see differently shaped or spaced regions of the input, so no
    (size, stride, padding) describes them all; ``reason`` names the layer that did it."""

    reason: str
    aligned: bool = True


IDENTITY = Field((1, 1), (1, 1), (0, 0))


class _Global:
    """The output of a global pool: every position sees the whole input."""


GLOBAL = _Global()


def _pair(values: Any) -> Pair:
    values = tuple(values)
    if len(values) == 1:
        return (values[0], values[0])
    return (values[-2], values[-1])


@dataclass(frozen=True)
class EndpointField:
    endpoint: str
    output_shape: tuple[int, ...]
    field: Field | NoField

    def record(self) -> dict[str, Any]:
        """Size, stride and padding (None where there is no field, ``note`` says why)."""
        f = self.field
        known = isinstance(f, Field)
        return {
            "endpoint": self.endpoint,
            "size": max(f.size) if known else None,
            "stride": max(f.stride) if known else None,
            "padding": max(f.padding) if known else None,
            "size_h": f.size[0] if known else None,
            "size_w": f.size[1] if known else None,
            "stride_h": f.stride[0] if known else None,
            "stride_w": f.stride[1] if known else None,
            "padding_h": f.padding[0] if known else None,
            "padding_w": f.padding[1] if known else None,
            "aligned": f.aligned,
            "note": "" if known else f.reason,
            "output_shape": self.output_shape,
        }


@dataclass(frozen=True)
class ReceptiveFieldAnalysis:
    """Fields of a network's end points and of its final feature map."""

    variant: str
    input_shape: InputShape
    endpoints: tuple[EndpointField, ...]
    final: EndpointField | None
    misalignments: tuple[str, ...]
    unknown_ops: tuple[str, ...]

    @property
    def aligned(self) -> bool:
        return not self.misalignments

    def summary(self) -> dict[str, Any]:
        """The flat record: the final feature map's field (None where it has none),
        whether every merge is aligned, and the operators no rule covers."""
        final = self.final.record() if self.final is not None else {}
        return {
            "variant": self.variant,
            "input_shape": "x".join(map(str, self.input_shape)),
            "final_size": final.get("size"),
            "final_stride": final.get("stride"),
            "final_padding": final.get("padding"),
            "aligned": self.aligned,
            "misalignments": len(self.misalignments),
            "unknown_ops": ", ".join(self.unknown_ops),
        }

    def records(self) -> list[dict[str, Any]]:
        """``endpoint, size, stride, padding, aligned, note`` rows; per-axis columns where
        axes differ. ``aligned`` is per end point: false when a merge of misaligned branches
        lies on the path from the input to it (exact: it follows the data flow)."""
        rows = [e.record() for e in self.endpoints]
        if self.final is not None:
            rows.append(self.final.record())
        square = all(
            r["size_h"] == r["size_w"]
            and r["stride_h"] == r["stride_w"]
            and r["padding_h"] == r["padding_w"]
            for r in rows
        )
        if square:
            keep = ("endpoint", "size", "stride", "padding", "aligned", "note", "output_shape")
            rows = [{k: r[k] for k in keep} for r in rows]
        return rows


FINAL = "final_feature_map"


class _FieldWalk:
    """Carries a :class:`Field` (or why there is none) on every value derived from the
    input, op by op along a trace."""

    def __init__(self) -> None:
        self.fields: dict[int, Field | NoField | _Global] = {}  # TensorInfo.index -> field
        self.module = ROOT
        self.misalignments: list[str] = []
        self.unknown: set[str] = set()
        self.before_global: tuple[TensorInfo, Field | NoField] | None = None

    def track(self, value: TensorInfo, field: Field | NoField | _Global) -> None:
        self.fields[value.index] = field

    def field_of(self, value: Any) -> Field | NoField | _Global | None:
        return self.fields.get(value.index) if isinstance(value, TensorInfo) else None

    def _where(self) -> str:
        return self.module if self.module != ROOT else "the model's forward"

    def _merge(self, fields: Sequence[Field], op: str) -> Field:
        first = fields[0]
        found = len(self.misalignments)
        for other in fields[1:]:
            if other.stride != first.stride:
                self.misalignments.append(
                    f"{op} in {self._where()}: strides {first.stride} and {other.stride} differ"
                )
            elif any(other.centre2(a) != first.centre2(a) for a in (0, 1)):
                offsets = [f"({f.centre2(0) / 2:g}, {f.centre2(1) / 2:g})" for f in (first, other)]
                self.misalignments.append(
                    f"{op} in {self._where()}: centres {offsets[0]} and {offsets[1]} differ"
                )
        # The largest field per axis; with the centres aligned, its padding follows.
        widest = [max(fields, key=lambda f, a=a: f.size[a]) for a in (0, 1)]
        return Field(
            size=(widest[0].size[0], widest[1].size[1]),
            stride=first.stride,
            padding=(widest[0].padding[0], widest[1].padding[1]),
            aligned=len(self.misalignments) == found and all(f.aligned for f in fields),
        )

    def _window(self, func: Any, args: Sequence[Any], field: Field) -> Field | NoField:
        if func in (aten.convolution.default, aten._convolution.default):
            weight, stride, padding, dilation = args[1], args[3], args[4], args[5]
            kernel, stride, padding, dilation = (
                _pair(weight.shape[2:]),
                _pair(stride),
                _pair(padding),
                _pair(dilation),
            )
            if not args[6]:
                return field.through(kernel, stride, padding, dilation)
            if stride != (1, 1):
                return NoField(
                    f"transposed conv, stride {stride[0]}×{stride[1]}, in {self._where()}: "
                    "field varies with position",
                    field.aligned,
                )
            # Stride 1: a convolution with the flipped kernel, padded d·(k − 1) − p.
            flipped = _pair(dilation[a] * (kernel[a] - 1) - padding[a] for a in (0, 1))
            return field.through(kernel, (1, 1), flipped, dilation)
        kernel = _pair(args[1])
        stride = _pair(args[2]) if len(args) > 2 and args[2] else kernel
        padding = _pair(args[3]) if len(args) > 3 else (0, 0)
        dilation = (
            _pair(args[4])
            if func is aten.max_pool2d_with_indices.default and len(args) > 4
            else (1, 1)
        )
        return field.through(kernel, stride, padding, dilation)

    def step(self, op: OpCall) -> None:
        args = op.args
        inputs = [a for a in args if self.field_of(a) is not None]
        if op.func is aten.cat.default:
            inputs = [t for t in args[0] if self.field_of(t) is not None]
        if not inputs:
            return
        fields = [self.field_of(t) for t in inputs]
        # Multi-output ops (batch norm's statistics, pooling indices): the first is the map.
        first = op.out[0] if isinstance(op.out, tuple) else op.out
        if not isinstance(first, TensorInfo):
            return
        self.module = op.module
        self.track(first, self._propagate(op.func, args, inputs, fields, first))

    def _propagate(self, func, args, inputs, fields, out) -> Field | NoField | _Global:
        name = func.overloadpacket.__name__
        if any(f is GLOBAL for f in fields):
            return GLOBAL
        spatial_in = inputs[0].shape[-2:] if inputs[0].dim() >= 3 else None
        if func in _GLOBAL_POOLS or (func is aten.mean.dim and _is_spatial_mean(args)):
            if out.shape[-2:] != (1, 1) and func is not aten.mean.dim:
                self.unknown.add(f"{name} to {tuple(out.shape[-2:])}")
            self.before_global = (inputs[0], fields[0])
            return GLOBAL
        if out.dim() < 3:  # flattened: what follows sees the whole map
            if spatial_in is not None:
                self.before_global = (inputs[0], fields[0])
            return GLOBAL
        missing = next((f for f in fields if isinstance(f, NoField)), None)
        if missing is not None:
            return NoField(missing.reason, all(f.aligned for f in fields))
        if func in _WINDOWS:
            return self._window(func, args, fields[0])
        if func is aten.constant_pad_nd.default:
            pad = list(args[1]) + [0] * 4  # (left, right, top, bottom)
            f = fields[0]
            return Field(
                f.size,
                f.stride,
                (f.padding[0] + pad[2] * f.stride[0], f.padding[1] + pad[0] * f.stride[1]),
                f.aligned,
            )
        if func is aten.cat.default:
            dim = args[1] if len(args) > 1 else 0
            if dim % inputs[0].dim() >= inputs[0].dim() - 2:
                return self._unknown("cat along a spatial axis", fields)
            return self._merge(fields, "concat")
        if spatial_in is None or out.shape[-2:] != spatial_in:
            upsampled = spatial_in is not None and all(
                o >= i for o, i in zip(out.shape[-2:], spatial_in, strict=True)
            )
            if name.startswith(("upsample", "_upsample")) and upsampled:
                return NoField(
                    f"upsampling ({name}) in {self._where()}: field varies with position",
                    all(f.aligned for f in fields),
                )
            return self._unknown(name, fields)
        if len(fields) > 1:
            return self._merge(fields, name)
        return fields[0]

    def _unknown(self, op: str, fields: Sequence[Field]) -> NoField:
        """An operator the walk has no rule for: listed, and no field after it."""
        self.unknown.add(op)
        return NoField(
            f"{op} in {self._where()}: unknown to the receptive-field walk",
            all(f.aligned for f in fields),
        )


_WINDOWS = frozenset(
    {
        aten.convolution.default,
        aten._convolution.default,
        aten.max_pool2d_with_indices.default,
        aten.avg_pool2d.default,
    }
)
_GLOBAL_POOLS = frozenset({aten._adaptive_avg_pool2d.default, aten.adaptive_max_pool2d.default})


def _is_spatial_mean(args: Sequence[Any]) -> bool:
    dims = args[1] if len(args) > 1 else None
    if dims is None:
        return True
    rank = args[0].dim()
    return {d % rank for d in dims} >= {rank - 2, rank - 1}


def receptive_fields(trace: Trace) -> ReceptiveFieldAnalysis:
    """Receptive field of each end point and of the final feature map (eval forward).

    The final feature map is the last map before a global pool or a flatten, else the
    output. A spatial end point after a layer that leaves no field gets a row with the
    reason (:class:`NoField`), never a number."""
    walk = _FieldWalk()
    walk.track(trace.input, IDENTITY)
    for op in trace.ops:
        walk.step(op)
    seen: dict[str, EndpointField] = {}
    for call in trace.modules:
        field = walk.field_of(call.output)
        if call.name not in seen and isinstance(field, Field | NoField):
            seen[call.name] = EndpointField(call.name, call.output.shape, field)
    final_source = walk.before_global
    output_field = walk.field_of(trace.output)
    if final_source is None and isinstance(output_field, Field | NoField):
        final_source = (trace.output, output_field)
    final = None
    if final_source is not None:
        final = EndpointField(FINAL, final_source[0].shape, final_source[1])
    return ReceptiveFieldAnalysis(
        variant=trace.name,
        input_shape=trace.input_shape,
        endpoints=tuple(seen[e] for e in trace.end_points if e in seen),
        final=final,
        misalignments=tuple(dict.fromkeys(walk.misalignments)),
        unknown_ops=tuple(sorted(walk.unknown)),
    )


def analyze_module_rf(
    model: nn.Module,
    input_shape: InputShape,
    *,
    endpoints: Sequence[str] = (),
    name: str = "model",
) -> ReceptiveFieldAnalysis:
    """Receptive fields of ``model`` (end points default to its top-level children)."""
    return receptive_fields(trace_module(model, input_shape, name=name, end_points=endpoints))


def analyze_rf(
    variant: Variant,
    *,
    input_shape: InputShape | None = None,
    overrides: dict[str, Any] | None = None,
) -> ReceptiveFieldAnalysis:
    """Receptive fields of a registered (or user) variant."""
    return receptive_fields(trace_variant(variant, input_shape=input_shape, overrides=overrides))


class _MaxAsAverage(TorchFunctionMode):
    """Max pooling routes the gradient to one element; average pooling to the whole window."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in {
            "max_pool2d",
            "_max_pool2d",
            "max_pool2d_with_indices",
        }:
            x, kernel = args[0], args[1]
            stride = args[2] if len(args) > 2 else kwargs.get("stride")
            padding = args[3] if len(args) > 3 else kwargs.get("padding", 0)
            ceil_mode = kwargs.get("ceil_mode", args[5] if len(args) > 5 else False)
            return F.avg_pool2d(x, kernel, stride or None, padding, ceil_mode=bool(ceil_mode))
        return func(*args, **kwargs)


class _Reached(Exception):
    """Raised by the end point's hook to stop the forward there."""


def _positive_copy(model: nn.Module) -> nn.Module:
    """Same graph, every weight positive and normalised, BN an identity-like affine."""
    copy = deepcopy(model).to_empty(device="cpu").double().eval()
    with torch.no_grad():
        for module in copy.modules():
            if isinstance(module, nn.modules.conv._ConvNd | nn.Linear):
                fan_in = module.weight[0].numel()
                module.weight.fill_(1.0 / fan_in)
                if module.bias is not None:
                    module.bias.fill_(0.0)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
                if module.affine:
                    module.weight.fill_(1.0)
                    module.bias.fill_(0.0)
    return copy


def empirical_field(
    model: nn.Module,
    input_shape: InputShape,
    endpoint: str | None = None,
    position: Pair | None = None,
) -> tuple[Pair, Pair]:
    """Measure the field of the unit at ``position`` (default: the central one) of
    ``endpoint`` (default: the output).

    On a copy with positive weights and max pools replaced by average pools, every input
    pixel inside the field gets a non-zero gradient and every pixel outside gets none.
    Returns ``(size, first_index)`` per axis of the non-zero region (clipped to the input).
    """
    copy = _positive_copy(model)
    captured: dict[str, torch.Tensor] = {}

    def grab(_m: nn.Module, _i: Any, output: Any) -> None:
        captured["out"] = output[0] if isinstance(output, tuple | list) else output
        raise _Reached  # the rest of the network is not needed

    target = copy.get_submodule(endpoint) if endpoint else copy
    handle = target.register_forward_hook(grab)
    x = torch.ones((1, *input_shape), dtype=torch.float64, requires_grad=True)
    try:
        with _MaxAsAverage():
            copy(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    out = captured["out"]
    row, col = position or _centre(out.shape[-2:])
    out[0, :, row, col].sum().backward()
    nonzero = x.grad[0].abs().sum(0) > 0
    rows = nonzero.any(1).nonzero().flatten()
    cols = nonzero.any(0).nonzero().flatten()
    size = (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))
    return size, (int(rows[0]), int(cols[0]))


def _centre(output_hw: Sequence[int]) -> Pair:
    return (output_hw[0] // 2, output_hw[1] // 2)


def expected_region(
    field: Field, output_hw: Pair, input_hw: Pair, position: Pair | None = None
) -> tuple[Pair, Pair, bool]:
    """The input region the output unit at ``position`` (default: the central one) sees,
    clipped to the input.

    Returns ``(size, first_index, clipped)`` per axis, for comparison with
    :func:`empirical_field`.
    """
    at = position or _centre(output_hw)
    sizes, firsts, clipped = [], [], False
    for a in (0, 1):
        first = at[a] * field.stride[a] - field.padding[a]
        last = first + field.size[a] - 1
        lo, hi = max(first, 0), min(last, input_hw[a] - 1)
        clipped = clipped or lo != first or hi != last
        sizes.append(hi - lo + 1)
        firsts.append(lo)
    return (sizes[0], sizes[1]), (firsts[0], firsts[1]), clipped
