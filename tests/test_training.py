"""A training step, derived by hand on tiny networks (float32: 4 bytes an element):
backward MACs from autograd's rules, what autograd saves, gradients and optimizer state
(checked against real torch.optim state), the step's peak; and the analytic train MACs
against FlopCounterMode over a forward and backward on every registered variant."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from tiny_nets import FlattenLinear, Residual, TwoBranches, conv_relu_chain, frozen_chain
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from incprof.analysis.trace import meta_model, tensor_leaves, trace_module, trace_variant
from incprof.analysis.training import StepMemory, backward, step_memory
from incprof.registry import list_variants


def per_op(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[str, int]]:
    """(module, backward MACs) of each op with any, from the eval trace."""
    return [(module, macs) for _, module, _, macs in backward(trace_module(model, shape)).per_op]


def step(model: nn.Module, shape: tuple[int, ...], **options: str) -> StepMemory:
    return step_memory(trace_module(model, shape, training=True), **options)


def test_hand_backward_macs_of_tiny_networks() -> None:
    # A conv costs its forward MACs once for its input's gradient (not when the input is
    # the network's: the first layer) and once for its weight's (not when frozen).
    # Chain: conv0 32 outputs × 1·9 = 288 MACs, weight only; conv2 12 × 2·9 = 216, both.
    chain = backward(trace_module(conv_relu_chain(False).eval(), (1, 6, 6)))
    assert [(m, macs) for _, m, _, macs in chain.per_op] == [("0", 288), ("2", 2 * 216)]
    assert (chain.forward_macs, chain.backward_macs, chain.train_macs) == (504, 720, 1224)
    # Frozen conv0: no weight gradient, and the ReLU's output descends from no trainable
    # parameter, so conv2 computes no input gradient either: its weight's 216 only.
    frozen = backward(trace_module(frozen_chain().eval(), (1, 6, 6)))
    assert [(m, macs) for _, m, _, macs in frozen.per_op] == [("2", 216)]
    assert (frozen.backward_macs, frozen.train_macs) == (216, 720)
    # Two branches on the input: weights only, a 2·48 = 96 and b 2·16·9 = 288.
    assert per_op(TwoBranches(), (2, 4, 4)) == [("a", 96), ("b", 288)]
    # Residual: stem 32 × 9 = 288 (weight); f 32 × 18 = 576, input and weight.
    assert per_op(Residual(), (1, 4, 4)) == [("stem", 288), ("f", 2 * 576)]
    # Flatten + linear: conv 8 × 9 = 72 (weight); addmm 8·5 = 40 for mat1 and for mat2.
    assert per_op(FlattenLinear(), (1, 4, 4)) == [("conv", 72), ("fc", 2 * 40)]


@pytest.mark.parametrize("inplace", [True, False])
def test_hand_step_memory_of_the_conv_relu_chain(inplace: bool) -> None:
    result = step(conv_relu_chain(inplace), (1, 6, 6))
    # Parameters 72 + 8 + 216 + 12 = 308 B, each gets a gradient of its size; SGD with
    # momentum keeps one buffer per parameter. Input 1×6×6 = 144 B.
    assert (result.parameter_bytes, result.gradient_bytes) == (308, 308)
    assert (result.optimizer_state_bytes, result.input_bytes, result.buffer_bytes) == (308, 144, 0)
    # Autograd saves: conv0 its input (the batch, not an activation) and weight; ReLU its
    # output; conv2 its input (that same output) and weight: one 128 B activation storage.
    assert result.saved_bytes == 128
    if inplace:
        # conv0/ReLU's storage 128 + the output 48 + the loss 4 at the sum.
        assert result.forward_peak_bytes == 128 + 48 + 4
    else:
        # conv0's output dies after the ReLU (nothing saved it): 128 + 128 at the ReLU.
        assert result.forward_peak_bytes == 256
    # The step's worst op is the ReLU's backward: the saved 128, the output 48, the loss
    # 4 and its seed gradient 4, conv2's input gradient 128 and weight and bias gradients
    # 216 + 12, and threshold_backward's own 128.
    assert result.step_peak_bytes == 128 + 48 + 4 + 4 + 128 + 216 + 12 + 128 == 668
    assert (result.peak_phase, result.peak_module, result.peak_operator) == (
        "backward",
        "1",  # the ReLU, whose backward runs then
        "threshold_backward",
    )
    assert result.total_peak_bytes == 308 + 0 + 308 + 144 + 668
    # Adam: exp_avg and exp_avg_sq per parameter, and a 4-byte float32 step per tensor.
    assert step(conv_relu_chain(inplace), (1, 6, 6), optimizer="adam").optimizer_state_bytes == (
        2 * 308 + 4 * 4
    )


def test_hand_step_memory_with_a_frozen_first_layer() -> None:
    result = step(frozen_chain(), (1, 6, 6))
    # Only conv2's weight 216 + bias 12 get gradients and optimizer state.
    assert (result.parameter_bytes, result.gradient_bytes, result.optimizer_state_bytes) == (
        308,
        228,
        228,
    )
    assert step(frozen_chain(), (1, 6, 6), optimizer="adam").optimizer_state_bytes == 2 * 228 + 8
    # The ReLU's input needs no gradient, so it saves nothing; conv2 saves its input.
    assert result.saved_bytes == 128
    # conv2's backward: the saved 128, output 48, loss 4, seed 4, weight + bias grads 228.
    assert result.step_peak_bytes == 128 + 48 + 4 + 4 + 228 == 412
    assert result.peak_operator == "convolution_backward"


def test_hand_step_memory_of_branches_residual_and_flatten() -> None:
    branches = step(TwoBranches(), (2, 4, 4))
    # Both convs save the batch (not an activation); cat saves nothing.
    assert (branches.saved_bytes, branches.gradient_bytes) == (0, 24 + 12 + 72 + 4)
    # Nothing is saved, so the forward's cat (192 + 64 + 256) stays the step's worst;
    # the backward's gradients are a few dozen bytes.
    assert (branches.step_peak_bytes, branches.peak_phase, branches.peak_operator) == (
        512,
        "forward",
        "cat",
    )
    residual = step(Residual(), (1, 4, 4))
    # f saves y (128 B); the add saves nothing; stem saves the batch.
    assert (residual.saved_bytes, residual.gradient_bytes) == (128, 72 + 8 + 144 + 8)
    # y, f(y) and y + f(y): 384 before the sum.
    assert residual.forward_peak_bytes == 384
    flatten = step(FlattenLinear(), (1, 4, 4))
    # addmm saves its input, the flattened view of the conv's 32 B output.
    assert (flatten.saved_bytes, flatten.gradient_bytes) == (32, 72 + 8 + 160 + 20)
    # At the conv's backward: output 20, loss 4, seed 4, the flatten's gradient 32, fc's
    # weight + bias gradients 160 + 20, the conv's 72 + 8 (its saved output was freed).
    assert flatten.step_peak_bytes == 20 + 4 + 4 + 32 + 160 + 20 + 72 + 8 == 320


def optimizer_state_nbytes(
    build: Callable[[], nn.Module], shape: tuple[int, ...], make: Callable, dtype: torch.dtype
) -> int:
    """Bytes of a real optimizer's state after one step of ``build()`` in ``dtype``."""
    model = build().to(dtype).train()
    optimizer = make([p for p in model.parameters() if p.requires_grad])
    model(torch.randn((1, *shape), dtype=dtype)).sum().backward()
    optimizer.step()
    return sum(
        value.nbytes
        for state in optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )


OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, lr=0.1),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize(
    "build, shape",
    [(frozen_chain, (1, 6, 6)), (FlattenLinear, (1, 4, 4)), (TwoBranches, (2, 4, 4))],
    ids=["frozen_chain", "flatten_linear", "two_branches"],
)
def test_optimizer_state_matches_torch_optim(
    build: Callable[[], nn.Module], shape: tuple[int, ...], dtype: str, optimizer: str
) -> None:
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    real = optimizer_state_nbytes(build, shape, OPTIMIZERS[optimizer], torch_dtype)
    analytic = step(build(), shape, optimizer=optimizer, dtype=dtype).optimizer_state_bytes
    assert analytic == real


def flop_counter_train_macs(variant: object) -> int:
    """FlopCounterMode over an eval-mode forward and the backward of the output's sum, on
    the meta device, halved: what incprof's train MACs claim to equal."""
    model = meta_model(variant).eval()
    x = torch.empty((1, *variant.input_shape), device="meta")
    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        heads = [t for t in tensor_leaves(model(x)) if t.requires_grad]
        torch.stack([head.sum() for head in heads]).sum().backward()
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


@pytest.mark.parametrize("variant", list_variants(), ids=lambda v: v.name)
def test_train_macs_equal_flop_counter_on_every_variant(variant: object) -> None:
    assert backward(trace_variant(variant)).train_macs == flop_counter_train_macs(variant)
