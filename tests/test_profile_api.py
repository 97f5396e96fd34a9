"""``incprof.profile(model, *inputs, **kwargs)``: each kind of model a user brings, its MACs
checked against FlopCounterMode/2 on the same inputs and its parameters against numel sums.

FlopCounterMode is run on a real CPU forward with SDPA forced to its math path (the CPU's
fused attention kernel is invisible to it) and grad enabled (so a transformer layer takes its
plain path, not the fused one); the LSTM, whose CPU kernel it cannot see either, is counted
on a meta copy, where the cell decomposes into matmuls.
"""

from __future__ import annotations

import copy
import gc
import json
import sys
import types
import weakref
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from user_models import image_and_meta, token_classifier

import incprof
from incprof.errors import InputError, RegistryError


def flop_counter_macs(model: nn.Module, *args: Any, **kwargs: Any) -> int:
    model.eval()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(*args, **kwargs)
    return counter.get_total_flops() // 2


def meta_flop_counter_macs(model: nn.Module, *args: torch.Tensor) -> int:
    return flop_counter_macs(copy.deepcopy(model).to("meta"), *(a.to("meta") for a in args))


def numel(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 8)
        self.b = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.a(x).sum() + self.b(image).mean()


class _Keywords(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 8)

    def forward(
        self, x: torch.Tensor, *, mask: torch.Tensor | None = None, scale: float = 1.0
    ) -> torch.Tensor:
        y = self.a(x) * scale
        return y if mask is None else y.masked_fill(mask, 0.0)


class _DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 8)
        self.b = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.a(x)
        return {"hidden": hidden, "logits": self.b(hidden)}


class _Attention(nn.Module):
    """qkv projection, then SDPA over 4 heads of 8."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, 4, 8).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v)


def _image_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


# name -> (model, positional inputs, keyword inputs)
CASES: dict[str, tuple[Any, tuple[Any, ...], dict[str, Any]]] = {
    "image_cnn": (_image_cnn, (torch.randn(2, 3, 32, 32),), {}),
    "conv1d_on_c_l": (
        lambda: nn.Sequential(nn.Conv1d(4, 8, 5, stride=2), nn.ReLU(), nn.Conv1d(8, 8, 3)),
        (torch.randn(1, 4, 128),),
        {},
    ),
    "conv3d_on_c_t_h_w": (
        lambda: nn.Sequential(nn.Conv3d(3, 8, 3), nn.ReLU()),
        (torch.randn(1, 3, 8, 16, 16),),
        {},
    ),
    "two_inputs": (_TwoInputs, (torch.randn(2, 16), torch.randn(2, 3, 16, 16)), {}),
    "keyword_inputs": (
        _Keywords,
        (torch.randn(2, 16),),
        {"mask": torch.zeros(2, 8, dtype=torch.bool), "scale": 2.0},
    ),
    "embedding_transformer_on_tokens": (
        token_classifier,
        (torch.randint(0, 100, (2, 12)),),
        {},
    ),
    "dict_output": (_DictOut, (torch.randn(2, 16),), {}),
    "sdpa": (_Attention, (torch.randn(2, 10, 32),), {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_profile_matches_flop_counter_and_numel(case: str) -> None:
    build, args, kwargs = CASES[case]
    model = build()
    result = incprof.profile(model, *args, **kwargs)
    assert result.macs == flop_counter_macs(model, *args, **kwargs) > 0
    assert result.params.total == numel(model)
    assert result.flops == 2 * result.macs
    assert result.unknown_ops == {}
    assert result.device == "meta" and result.notes == ()


def test_lstm_matches_flop_counter_on_meta_and_closed_form() -> None:
    model = nn.LSTM(16, 32, num_layers=2, batch_first=True)
    x = torch.randn(2, 10, 16)
    result = incprof.profile(model, x)
    # 4 gates × hidden × (input + hidden) per token, per layer: 2 × 10 tokens.
    closed = 20 * 4 * 32 * (16 + 32) + 20 * 4 * 32 * (32 + 32)
    assert result.macs == meta_flop_counter_macs(model, x) == closed
    assert result.params.total == numel(model)


def test_shapes_stand_for_tensors_and_batch_is_prepended() -> None:
    model = _image_cnn()
    by_tensor = incprof.profile(model, torch.randn(4, 3, 32, 32))
    by_tuple = incprof.profile(model, (3, 32, 32), batch=4)
    by_text = incprof.profile(model, "3x32x32", batch=4)
    assert by_tensor.macs == by_tuple.macs == by_text.macs
    assert by_tensor.batch == by_tuple.batch == 4
    assert by_text.inputs == "3x32x32"
    tokens = incprof.profile(token_classifier(), "12:int64", batch=2)
    assert tokens.macs == _token_macs()


def _token_macs() -> int:
    """FlopCounterMode/2 on the token model at batch 2, length 12."""
    return flop_counter_macs(token_classifier(), torch.zeros(2, 12, dtype=torch.long))


def test_keyword_arguments_reach_forward_and_plain_values_pass_through() -> None:
    model = image_and_meta()
    image, vector = torch.randn(2, 3, 8, 8), torch.randn(2, 16)
    mask = torch.zeros(2, 8, dtype=torch.bool)
    with_mask = incprof.profile(model, image, vector, mask=mask)
    assert with_mask.macs == flop_counter_macs(model, image, vector, mask=mask)
    assert "masked_fill" in with_mask.by_operator()
    assert "masked_fill" not in incprof.profile(model, image, vector).by_operator()
    # a forward argument named like incprof's own option goes through kwargs=
    named = incprof.profile(model, image, vector, kwargs={"mask": mask})
    assert named.macs == with_mask.macs
    with pytest.raises(InputError, match="given twice"):
        incprof.profile(model, image, vector, mask=mask, kwargs={"mask": mask})


def test_models_by_name() -> None:
    registered = incprof.profile("googlenet_tv")
    assert round(registered.macs / 1e9, 3) == 1.498  # torchvision's published _ops (GFLOPS)
    assert registered.inputs == "3x224x224"
    user = incprof.profile("user_models:tiny_net", (3, 8, 8))
    # conv 3→4 3×3 (padding 1) on 8×8, linear 4→2
    assert user.macs == 8 * 8 * 4 * 27 + 4 * 2
    assert user.params.total == 4 * 27 + 4 + 4 * 2 + 2
    tokens = incprof.profile("user_models:token_classifier", "12:int64")
    assert tokens.macs == _token_macs() // 2  # batch 1 of the batch-2 reference


def test_zoo_names_build_without_weights() -> None:
    import zoo_imports  # the one torchvision shim, tests only

    torchvision = zoo_imports.torchvision()

    result = incprof.profile("torchvision:resnet18")
    assert round(result.macs / 1e9, 3) == 1.814  # torchvision's published _ops (GFLOPS)
    expected = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["num_params"]
    assert result.params.total == expected
    with pytest.raises(RegistryError, match="cannot build 'no_such_net'"):
        incprof.profile("torchvision:no_such_net")


def test_onnx_file(tmp_path: Any) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "tiny.onnx"
    from click.testing import CliRunner

    from incprof.cli import cli

    made = CliRunner().invoke(
        cli, ["export", "user_models:tiny_net", "--onnx", str(path), "--input", "3x8x8"]
    )
    assert made.exit_code == 0, made.output
    result = incprof.profile(str(path), (3, 8, 8))
    assert result.macs == 8 * 8 * 4 * 27 + 4 * 2


def test_a_profile_keeps_neither_model_nor_tensors_alive() -> None:
    model, x = _image_cnn(), torch.randn(1, 3, 16, 16)
    model_ref, tensor_ref = weakref.ref(model), weakref.ref(x)
    result = incprof.profile(model, x)
    result.training_step()  # a retrace must not need the user's model either
    del model, x
    gc.collect()
    assert model_ref() is None and tensor_ref() is None
    assert result.macs > 0


def test_a_registry_profile_lets_its_build_go_and_still_retraces() -> None:
    from incprof.models.googlenet import GoogLeNet

    def alive() -> int:
        gc.collect()
        return sum(type(o) is GoogLeNet for o in gc.get_objects())

    before = alive()
    result = incprof.profile("googlenet")
    assert alive() == before  # the meta build went with the pass
    # Retraces build it again: the same figures as a profile made at that batch.
    fresh = incprof.profile("googlenet", batch=4).predict("h100-sxm")
    assert result.predict("h100-sxm", batch=4).time_ms == fresh.time_ms > 0
    assert result.training_step().parameter_bytes == 4 * result.params.total
    assert alive() == before


def test_lazy_modules_are_materialised_and_counted() -> None:
    model = nn.Sequential(nn.LazyConv2d(8, 3), nn.Flatten(), nn.LazyLinear(10))
    result = incprof.profile(model, (3, 10, 10))
    assert result.params.total == (8 * 27 + 8) + (8 * 8 * 8 * 10 + 10)
    assert result.macs == 8 * 8 * 8 * 27 + 8 * 8 * 8 * 10
    # the user's model stays lazy, as it was
    assert isinstance(model[0].weight, nn.parameter.UninitializedParameter)


class _Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


class _UsesSort(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort(self.fc(x), dim=-1).values


def test_unknown_operators_are_named_with_their_modules() -> None:
    outer = nn.Sequential(nn.Linear(4, 8), _UsesSort())
    result = incprof.profile(outer, torch.randn(2, 4))
    assert result.unknown_ops == {"sort": {"count": 1, "modules": ["1"]}}
    assert "unknown operators (not priced): sort×1" in str(result)
    assert json.loads(result.to_json())["unknown_ops"]["sort"]["count"] == 1


def test_a_forward_that_reads_values_falls_back_to_a_cpu_run() -> None:
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) if x.sum() > -1e9 else x

    with pytest.warns(UserWarning, match="reads tensor values"):
        result = incprof.profile(Branches(), torch.randn(2, 4))
    assert result.device == "cpu" and "real CPU run" in result.notes[0]
    assert result.macs == 2 * 4 * 4


def test_receptive_field_needs_a_conv_net_on_an_image() -> None:
    image = incprof.profile(_image_cnn(), (3, 32, 32))
    assert image.receptive_field().final.record()["size"] == 3
    with pytest.raises(InputError, match="needs a conv net on an image input"):
        incprof.profile(_DictOut(), (16,)).receptive_field()


def test_memory_training_step_and_prediction() -> None:
    result = incprof.profile(_image_cnn(), (3, 32, 32), batch=2)
    assert result.memory.activation_peak_bytes > 0
    assert result.memory_in("fp16").activation_peak_bytes < result.memory.activation_peak_bytes
    step = result.training_step(optimizer="adam")
    assert step.total_peak_bytes > step.parameter_bytes > 0
    fast = result.predict("h100-sxm", dtype="bf16")
    assert fast.time_ms > 0
    assert result.predict("h100-sxm", dtype="bf16", batch=8192).time_ms > fast.time_ms
    with pytest.raises(InputError, match="unknown optimizer"):
        result.training_step(optimizer="lion")


def test_outputs_render_the_same_figures() -> None:
    result = incprof.profile(_image_cnn(), (3, 32, 32))
    data = json.loads(result.to_json())
    assert data["macs"] == result.macs and data["params"] == result.params.total
    assert [r["module"] for r in data["by_module"]][:2] == ["0", "1"]
    assert f"MACs {result.macs:,}" in str(result)
    assert "| module" in result.to_markdown()
    assert result._repr_html_().startswith("<table>")
    frame = result.to_pandas(depth=1)
    assert int(frame["macs"].sum()) == result.macs


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: incprof.profile(42), "must be an nn.Module or a name"),
        (lambda: incprof.profile(_image_cnn(), "3xtwox4"), "positive integers"),
        (lambda: incprof.profile(_image_cnn(), (3, 0, 4)), "positive integers"),
        (lambda: incprof.profile(_image_cnn(), "3x8x8:float7"), "dtype 'float7'"),
        (lambda: incprof.profile(_image_cnn(), (3, 2**40, 2)), "above 2\\*\\*31"),
        (lambda: incprof.profile(_image_cnn(), torch.randn(1, 3, 8, 8), batch=2), "batch="),
        (lambda: incprof.profile(_image_cnn(), (3, 8)), "failed on 3x8"),
        (lambda: incprof.profile("no_such_model"), "no_such_model"),
    ],
)
def test_bad_input_is_one_line(call: Any, message: str) -> None:
    with pytest.raises((InputError, RegistryError), match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


# The command line shares the grammar: every analysing command takes the same --input.
THREE_INPUTS = ("--input", "3x8x8", "--input", "16", "--input", "mask=8:bool")


def _cli_json(*args: str) -> Any:
    from click.testing import CliRunner

    from incprof.cli import cli

    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_cli_takes_several_inputs_a_keyword_and_other_dtypes() -> None:
    model = image_and_meta()
    image, vector = torch.randn(1, 3, 8, 8), torch.randn(1, 16)
    mask = torch.zeros(1, 8, dtype=torch.bool)
    (row,) = _cli_json("compare", "user_models:image_and_meta", *THREE_INPUTS)
    assert row["macs"] == flop_counter_macs(model, image, vector, mask=mask)
    assert row["input_shape"] == "3x8x8, 16, mask=8:bool"
    (memory,) = _cli_json("memory", "user_models:image_and_meta", *THREE_INPUTS)
    assert memory["input_bytes"] == 4 * (3 * 8 * 8 + 16) + 8  # fp32 image and vector, bool mask
    (tokens,) = _cli_json("compare", "user_models:token_classifier", "--input", "12:int64")
    assert tokens["macs"] == _token_macs() // 2
    (timed,) = _cli_json("predict", "user_models:token_classifier", "--input", "12:int64")
    assert timed["input_shape"] == "12:int64" and timed["predicted_ms"] > 0


def test_the_cli_takes_any_rank() -> None:
    (video,) = _cli_json("compare", "user_models:video_net", "--input", "3x4x8x8")
    # Conv3d 3→4, 3×3×3, padding 1, on 4×8×8, then linear 4→2 on the pooled features
    assert video["macs"] == 4 * 8 * 8 * 4 * 81 + 4 * 2


def test_claim_and_export_take_the_same_spec(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from incprof.cli import cli

    macs = str(_token_macs() // 2)
    claim = CliRunner().invoke(
        cli, ["claim", "user_models:token_classifier", macs, "--input", "12:int64"]
    )
    assert claim.exit_code == 0, claim.output
    pytest.importorskip("onnxruntime")
    path = tmp_path / "three.onnx"
    made = CliRunner().invoke(
        cli, ["export", "user_models:image_and_meta", "--onnx", str(path), *THREE_INPUTS]
    )
    assert made.exit_code == 0, made.output
    assert "3x8x8, 16, mask=8:bool" in made.output and "ONNX Runtime matches" in made.output


def test_the_readme_python_example_runs() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Python", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    mymodels = types.ModuleType("mymodels")
    mymodels.build_net = lambda: nn.Sequential(  # type: ignore[attr-defined]
        nn.Conv1d(4, 16, 5), nn.AdaptiveAvgPool1d(1), nn.Flatten()
    )
    space: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "mymodels", mymodels)
        exec(code, space)  # the README's own example
    # 8 × 16 × 124 outputs, each 4 × 5 multiply-adds
    assert space["result"].macs == 8 * 16 * 124 * 20


def test_the_cli_finds_a_model_file_in_the_working_directory(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from incprof.cli import cli

    (tmp_path / "cwd_models.py").write_text(
        "from torch import nn\n\ndef build_net():\n    return nn.Conv1d(4, 16, 5)\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        patch.setattr(sys, "path", list(sys.path))  # the append stays in this test
        result = CliRunner().invoke(cli, ["show", "cwd_models:build_net", "--input", "4x128"])
    assert result.exit_code == 0, result.output
    assert "MACs 39,680" in result.output  # 16 × 124 outputs, 4 × 5 multiply-adds each


def test_the_cli_materialises_lazy_modules() -> None:
    (row,) = _cli_json("compare", "user_models:lazy_net", "--input", "3x10x10")
    # conv 3→8 3×3 on 10×10 (8×8 out), linear 512→10: their parameters count once made
    assert row["params"] == (8 * 27 + 8) + (8 * 8 * 8 * 10 + 10)
    assert row["macs"] == 8 * 8 * 8 * 27 + 8 * 8 * 8 * 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["memory", "--measured"],
            "--measured runs one float input (e.g. 3x224x224); got 12:int64",
        ),
        (["compare", "--latency", "--device", "cpu"], "--latency and --counters run one float"),
        (["compare", "--counters", "torch"], "--latency and --counters run one float input"),
    ],
)
def test_real_runs_refuse_inputs_they_cannot_make_in_one_line(
    args: list[str], message: str
) -> None:
    from click.testing import CliRunner

    from incprof.cli import cli

    command, *options = args
    result = CliRunner().invoke(
        cli, [command, "user_models:token_classifier", "--input", "12:int64", *options]
    )
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("incprof: error: ") and message in line


def parameter_bytes_by_module(trace, *, dtype_bytes: int = 4) -> dict[str, int]:
    """A new analyzer, as the issue's example: each module's own parameter bytes."""
    found: dict[str, int] = {}
    for p in trace.parameters:
        found[p.owner] = found.get(p.owner, 0) + p.numel * dtype_bytes
    return found


def test_a_new_analyzer_is_one_function_and_one_registration_line(monkeypatch) -> None:
    from incprof import analysis

    monkeypatch.setitem(
        analysis.ANALYZERS, "param_bytes", "test_profile_api:parameter_bytes_by_module"
    )
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1, bias=False))
    got = incprof.profile(net, (3, 8, 8)).analysis("param_bytes", dtype_bytes=2)
    # conv 0: 4·3·3·3 weights + 4 biases; conv 2: 2·4 weights; 2 bytes each.
    assert got == {"0": 2 * (108 + 4), "2": 2 * 8}
    with pytest.raises(InputError, match="unknown analyzer 'nope'"):
        incprof.profile(net, (3, 8, 8)).analysis("nope")


def test_a_step_analyzer_runs_on_the_training_step() -> None:
    """Each training step is traced on the profile's one meta copy: the gradients the
    first left there made the second accumulate into them (a 240-byte step peak, then
    200), so a step's gradients now go with its trace."""
    net = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    p = incprof.profile(net, (8,), batch=2)
    assert p.training_step("sgd").summary() == p.training_step("sgd").summary()
    step = p.analysis("step_memory", optimizer="adam")
    assert step.summary() == p.training_step("adam").summary()
    # Adam: two fp32 moments per parameter element and a step count per parameter tensor.
    assert step.optimizer_state_bytes == 2 * 4 * (8 * 4 + 4 + 4 * 2 + 2) + 4 * 4
    assert p.analysis("memory", dtype="bf16").summary() == p.memory_in("bf16").summary()


def test_predict_takes_a_profile_in_hand_and_a_pre_ampere_one_defaults_to_fp16() -> None:
    """A profile a user changed (or built for a GPU without bf16) is passed as it is."""
    from incprof.analysis.profiles import Figure, builtin, from_dict

    shipped = builtin("a100-sxm")
    p = incprof.profile("googlenet", batch=8)
    assert p.predict(shipped).time_ms == p.predict("a100-sxm").time_ms
    slower = shipped.with_figures({"launch_us": Figure(100.0, "assumed", "a slow host")})
    assert p.predict(slower, mode="eager").time_ms > p.predict(shipped, mode="eager").time_ms
    data = shipped.to_dict()
    data["peak_tflops"] = {d: data["peak_tflops"][d] for d in ("fp32", "fp16")}
    volta = from_dict({**data, "validation": []})
    assert p.predict(volta).dtype == "fp16"
    with pytest.raises(InputError, match="a device is a name, a profile file or a DeviceProfile"):
        p.predict(42)
