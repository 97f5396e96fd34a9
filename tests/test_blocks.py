"""Single blocks: seed 002's three blocks and Inception-v3's module types."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from incprof import registry
from incprof.models.blocks import (
    build_block_bn_factorized,
    build_block_naive,
    build_block_reduced,
    build_block_v3,
)
from incprof.models.common import layer
from incprof.models.inception_v3 import (
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionE,
    build_inception_v3,
)

SEED_BLOCKS = ("block_naive", "block_reduced", "block_bn_factorized")
V3_BLOCKS = ("block_v3_fig5", "block_v3_fig6", "block_v3_fig7", "block_v3_fig10")

# Seed 002's printed conv operation counts (k·k·C_out·C_in·28·28) per branch; a branch the
# seed does not list (the naïve max pool) has no conv.
SEED_BRANCH_MACS = {
    "block_naive": {
        "branch1": 25_690_112,
        "branch2": 346_816_512,
        "branch3": 481_689_600,
        "branch4": 0,
    },
    "block_reduced": {
        "branch1": 25_690_112,
        "branch2": 12_845_056 + 86_704_128,
        "branch3": 12_845_056 + 120_422_400,
        "branch4": 12_845_056,
    },
    "block_bn_factorized": {
        "branch1": 25_690_112,
        "branch2": 12_845_056 + 86_704_128,
        "branch3": 12_845_056 + 43_352_064 + 65_028_096,
        "branch4": 12_845_056,
    },
}
# The seed's totals ("Total operations: 854.196 M", "271.352 M", "259.310 M").
SEED_TOTAL_MACS = {
    "block_naive": 854_196_224,
    "block_reduced": 271_351_808,
    "block_bn_factorized": 259_309_568,
}

EXPECTED_OUTPUT = {
    "block_naive": (672, 28, 28),  # 128 + 192 + 96 + 256 pooled
    "block_reduced": (480, 28, 28),  # 128 + 192 + 96 + 64
    "block_bn_factorized": (480, 28, 28),
    "block_v3_fig5": (288, 35, 35),  # 64 + 64 + 96 + 64
    "block_v3_fig6": (768, 17, 17),  # 4 × 192
    "block_v3_fig7": (2048, 8, 8),  # 320 + 768 + 768 + 192
    "block_v3_fig10": (768, 17, 17),  # 384 + 96 + 288 pooled
}


def conv(cin: int, cout: int, k: int, *, bias: bool = False, bn: bool = False) -> int:
    """k×k conv weights, plus its bias and BN weight and bias where it has them."""
    return k * k * cin * cout + (cout if bias else 0) + (2 * cout if bn else 0)


def bn_unit(cin: int, cout: int, kh: int, kw: int | None = None) -> int:
    """Inception-v3's unit: conv without bias → BN."""
    return kh * (kh if kw is None else kw) * cin * cout + 2 * cout


CLOSED_FORM_PARAMS = {
    # 1×1 128, 3×3 192, 5×5 96 on 256 channels, each with bias.
    "block_naive": conv(256, 128, 1, bias=True)
    + conv(256, 192, 3, bias=True)
    + conv(256, 96, 5, bias=True),
    # No bias, no BN: 1×1 128 | 1×1 64 → 3×3 192 | 1×1 64 → 5×5 96 | pool → 1×1 64.
    "block_reduced": conv(256, 128, 1)
    + conv(256, 64, 1)
    + conv(64, 192, 3)
    + conv(256, 64, 1)
    + conv(64, 96, 5)
    + conv(256, 64, 1),
    # BN everywhere, the 5×5 as 3×3 64 → 96 then 3×3 96 → 96.
    "block_bn_factorized": conv(256, 128, 1, bn=True)
    + conv(256, 64, 1, bn=True)
    + conv(64, 192, 3, bn=True)
    + conv(256, 64, 1, bn=True)
    + conv(64, 96, 3, bn=True)
    + conv(96, 96, 3, bn=True)
    + conv(256, 64, 1, bn=True),
    # InceptionA(288, pool_features=64).
    "block_v3_fig5": bn_unit(288, 64, 1)
    + bn_unit(288, 48, 1)
    + bn_unit(48, 64, 5)
    + bn_unit(288, 64, 1)
    + bn_unit(64, 96, 3)
    + bn_unit(96, 96, 3)
    + bn_unit(288, 64, 1),
    # InceptionC(768, channels_7x7=192): 1×1 | 1×1→1×7→7×1 | 1×1→(7×1, 1×7)×2 | pool→1×1.
    "block_v3_fig6": bn_unit(768, 192, 1)
    + bn_unit(768, 192, 1)
    + 2 * bn_unit(192, 192, 1, 7)
    + bn_unit(768, 192, 1)
    + 4 * bn_unit(192, 192, 7, 1)
    + bn_unit(768, 192, 1),
    # InceptionE(2048).
    "block_v3_fig7": bn_unit(2048, 320, 1)
    + bn_unit(2048, 384, 1)
    + 2 * bn_unit(384, 384, 1, 3)
    + bn_unit(2048, 448, 1)
    + bn_unit(448, 384, 3)
    + 2 * bn_unit(384, 384, 1, 3)
    + bn_unit(2048, 192, 1),
    # InceptionB(288): 3×3/2 384 | 1×1 64 → 3×3 96 → 3×3/2 96 | max pool.
    "block_v3_fig10": bn_unit(288, 384, 3)
    + bn_unit(288, 64, 1)
    + bn_unit(64, 96, 3)
    + bn_unit(96, 96, 3),
}


def meta_block(name: str, **overrides: object) -> nn.Module:
    with torch.device("meta"):
        return registry.get(name).build(**overrides).eval()


def run_meta(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    return model(torch.empty((1, *shape), device="meta"))


def conv_macs_by_branch(model: nn.Module, shape: tuple[int, ...]) -> dict[str, int]:
    """k_h·k_w·C_in/groups·C_out·H_out·W_out per conv (bias excluded), summed per branch."""
    totals: dict[str, int] = {}

    def count(name: str):
        def hook(module: nn.Conv2d, _inputs: object, out: torch.Tensor) -> None:
            kh, kw = module.kernel_size
            per_position = kh * kw * (module.in_channels // module.groups) * module.out_channels
            branch = name.split(".")[0]
            totals[branch] = totals.get(branch, 0) + per_position * out.shape[-2] * out.shape[-1]

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(count(name))
    run_meta(model, shape)
    return totals


@pytest.mark.parametrize("name", SEED_BLOCKS)
def test_seed_block_conv_macs_match_the_seeds_hand_counts(name: str) -> None:
    assert sum(SEED_BRANCH_MACS[name].values()) == SEED_TOTAL_MACS[name]
    model = meta_block(name)
    by_branch = conv_macs_by_branch(model, registry.get(name).input_shape)
    assert by_branch == {b: m for b, m in SEED_BRANCH_MACS[name].items() if m}
    assert sum(by_branch.values()) == SEED_TOTAL_MACS[name]


@pytest.mark.parametrize("name", SEED_BLOCKS + V3_BLOCKS)
def test_output_shapes_and_closed_form_params(name: str) -> None:
    variant = registry.get(name)
    model = meta_block(name)
    assert tuple(run_meta(model, variant.input_shape).shape[1:]) == EXPECTED_OUTPUT[name]
    assert sum(p.numel() for p in model.parameters()) == CLOSED_FORM_PARAMS[name]


def test_closed_form_params_are_the_seeds_figures() -> None:
    # Seed 002's figures, worked by hand: 32,896 + 442,560 + 614,496 for the naïve block.
    assert CLOSED_FORM_PARAMS["block_naive"] == 1_089_952
    assert CLOSED_FORM_PARAMS["block_reduced"] == 346_112
    assert CLOSED_FORM_PARAMS["block_bn_factorized"] == 330_752 + 1_408  # convs + BN


def test_seed_conv_units() -> None:
    naive, reduced, bn = (meta_block(name) for name in SEED_BLOCKS)

    def convs(model: nn.Module) -> list[nn.Conv2d]:
        return [m for m in model.modules() if isinstance(m, nn.Conv2d)]

    def bns(model: nn.Module) -> list[nn.BatchNorm2d]:
        return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]

    assert all(c.bias is not None for c in convs(naive)) and not bns(naive)
    assert all(c.bias is None for c in convs(reduced)) and not bns(reduced)
    assert all(c.bias is None for c in convs(bn))
    assert len(bns(bn)) == 7 and {m.eps for m in bns(bn)} == {1e-3}
    assert naive.branch4.padding == 1  # the naïve pool keeps the grid itself
    assert [c.kernel_size for c in convs(bn.branch3)] == [(1, 1), (3, 3), (3, 3)]
    assert [c.out_channels for c in convs(bn.branch3)] == [64, 96, 96]


@pytest.mark.parametrize("name", ["block_reduced", "block_bn_factorized"])
def test_seed_pool_branch_quirk(name: str) -> None:
    # Unpadded 3×3/1 max pool (d -> d − 2), then a 1×1 conv with padding 1 (back to d).
    pool, unit = meta_block(name).branch4
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 1, 0)
    assert unit.conv.kernel_size == (1, 1) and unit.conv.padding == (1, 1)


def test_seed_pool_branch_border_is_the_conv_of_zeros() -> None:
    # A real forward on a small input: the ring the 1×1's padding adds is ReLU(0) = 0 in the
    # reduced block (no bias, no BN), wherever the pooled interior is positive.
    torch.manual_seed(0)
    model = build_block_reduced(in_channels=4, grid=6).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
        pooled = model.branch4(torch.rand(1, 4, 6, 6) + 0.1)
    assert pooled.shape == (1, 64, 6, 6)
    interior = pooled[..., 1:-1, 1:-1]
    assert (interior > 0).all()
    border = pooled.clone()
    border[..., 1:-1, 1:-1] = 0
    assert not border.any()


def test_seed_blocks_do_not_print(capsys: pytest.CaptureFixture[str]) -> None:
    for name in SEED_BLOCKS:
        run_meta(meta_block(name), registry.get(name).input_shape)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("name", "mixed", "cls"),
    [
        ("block_v3_fig5", "Mixed_5d", InceptionA),
        ("block_v3_fig6", "Mixed_6e", InceptionC),
        ("block_v3_fig7", "Mixed_7c", InceptionE),
        ("block_v3_fig10", "Mixed_6a", InceptionB),
    ],
)
def test_v3_blocks_are_the_networks_modules(name: str, mixed: str, cls: type) -> None:
    block = meta_block(name)
    assert type(block) is cls
    with torch.device("meta"):
        network = build_inception_v3()
    ours = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in network.get_submodule(mixed).state_dict().items()}
    assert ours == theirs


@pytest.mark.parametrize(
    ("name", "overrides", "expected_in", "expected_out"),
    [
        (
            "block_naive",
            {"in_channels": 192, "grid": 14},
            (192, 14, 14),
            (128 + 192 + 96 + 192, 14, 14),
        ),
        ("block_reduced", {"in_channels": 480, "grid": 14}, (480, 14, 14), (480, 14, 14)),
        ("block_bn_factorized", {"grid": 7}, (256, 7, 7), (480, 7, 7)),
        # Mixed_5b's widths: 192 in, pool_features 32 -> 64 + 64 + 96 + 32.
        ("block_v3_fig5", {"in_channels": 192, "pool_features": 32}, (192, 35, 35), (256, 35, 35)),
        ("block_v3_fig6", {"channels_7x7": 128, "grid": 12}, (768, 12, 12), (768, 12, 12)),
        ("block_v3_fig7", {"in_channels": 1280}, (1280, 8, 8), (2048, 8, 8)),
        # Valid 3×3/2: 17 -> 8; the pool passes 320 channels through.
        ("block_v3_fig10", {"in_channels": 320, "grid": 17}, (320, 17, 17), (384 + 96 + 320, 8, 8)),
    ],
)
def test_overrides(name: str, overrides: dict, expected_in: tuple, expected_out: tuple) -> None:
    variant = registry.get(name)
    assert variant.input_for(overrides) == expected_in
    model = meta_block(name, **overrides)
    assert tuple(run_meta(model, expected_in).shape[1:]) == expected_out


def test_grid_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="grid must be at least 3"):
        build_block_reduced(grid=2)
    with pytest.raises(ValueError, match="grid must be at least 3"):
        build_block_v3("fig10", grid=2)
    with pytest.raises(ValueError, match="grid must be at least 1"):
        build_block_naive(grid=0)


def test_block_conv_block_is_swappable() -> None:
    # Every conv goes through conv_block: a parameter-free stand-in leaves no parameters.
    def stand_in(cin: int, cout: int, **_kwargs: object) -> nn.Module:
        return nn.Identity()

    for builder in (build_block_naive, build_block_bn_factorized, partial(build_block_v3, "fig5")):
        assert not list(builder(conv_block=stand_in).parameters())


def test_block_registry_entries() -> None:
    for name in SEED_BLOCKS:
        variant = registry.get(name)
        assert (variant.family, variant.tag) == ("seed_blocks", "block")
        assert variant.input_shape == (256, 28, 28)
    for name in V3_BLOCKS:
        variant = registry.get(name)
        assert (variant.family, variant.tag) == ("inception_v3_modules", "block")
    for name in ("block_reduced", "block_bn_factorized"):
        assert "padding 1" in registry.get(name).differences
    assert [v.name for v in registry.family_members("seed_blocks")] == list(SEED_BLOCKS)


LAYERS = (
    (nn.Conv2d, (8, 16, 3), {"padding": 1, "bias": True}),
    (nn.BatchNorm2d, (16,), {"eps": 1e-3}),
    (nn.Linear, (12, 5), {}),
)


@pytest.mark.parametrize(("cls", "args", "kwargs"), LAYERS)
def test_layer_is_the_constructor_on_cpu(cls: type, args: tuple, kwargs: dict) -> None:
    # Same seed, same weights and buffers, the same random numbers drawn after: the
    # reset runs once, as the constructor's last step would have run it.
    torch.manual_seed(7)
    expected, after = cls(*args, **kwargs), torch.rand(3)
    torch.manual_seed(7)
    built = layer(cls, *args, **kwargs)
    assert type(built) is cls and torch.equal(torch.rand(3), after)
    assert repr(built) == repr(expected)
    # Every plain attribute as the constructor set it, in its order; tensors by value.
    plain = lambda m: {k: v for k, v in vars(m).items() if not k.startswith("_")}  # noqa: E731
    assert list(vars(built)) == list(vars(expected)) and plain(built) == plain(expected)
    for table in ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"):
        assert list(getattr(built, table)) == list(getattr(expected, table))
    mine, theirs = built.state_dict(), expected.state_dict()
    assert list(mine) == list(theirs)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)


@pytest.mark.parametrize(("cls", "args", "kwargs"), LAYERS)
def test_layer_skips_the_reset_on_meta(
    cls: type, args: tuple, kwargs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    resets: list[nn.Module] = []
    monkeypatch.setattr(cls, "reset_parameters", lambda self: resets.append(self))
    with torch.device("meta"):
        built = layer(cls, *args, **kwargs)
    assert resets == [] and all(p.is_meta for p in built.parameters())
    layer(cls, *args, **kwargs)  # on the CPU the reset runs, once
    assert len(resets) == 1


def test_layer_takes_the_torch_layers_it_knows() -> None:
    with pytest.raises(TypeError, match="builds Conv2d, BatchNorm2d, Linear; not LSTM"):
        layer(nn.LSTM, 4, 4)


def test_layer_runs_torchs_registration_hooks_where_set() -> None:
    from torch.nn.modules.module import (
        register_module_buffer_registration_hook,
        register_module_parameter_registration_hook,
    )

    seen: list[str] = []
    hooks = [
        register_module_parameter_registration_hook(lambda m, name, t: seen.append(name)),
        register_module_buffer_registration_hook(lambda m, name, t: seen.append(name)),
    ]
    try:
        layer(nn.BatchNorm2d, 4)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
