"""What users type, as values; errors say what is wrong, and the command line says where."""

import pytest
from click.testing import CliRunner

from incprof.cli import cli
from incprof.errors import InputError
from incprof.parse import (
    parse_batches,
    parse_choices,
    parse_image_shape,
    parse_input_shape,
    parse_sort,
)


def test_values():
    assert parse_input_shape("3x299x299") == (3, 299, 299)
    assert parse_input_shape("1×32X48") == (1, 32, 48)
    assert parse_input_shape(None) is None
    assert parse_choices("fp32, bf16", ("fp32", "tf32", "bf16")) == ["fp32", "bf16"]
    assert parse_batches("1,32,256") == [1, 32, 256]
    assert parse_sort("-macs", ("variant", "macs")) == ("macs", True)
    assert parse_sort("variant", ("variant", "macs")) == ("variant", False)


@pytest.mark.parametrize(
    ("parse", "message"),
    [
        (
            lambda: parse_image_shape("3x224"),
            "takes an image shape CxHxW here, e.g. 3x299x299; got '3x224'",
        ),
        (
            lambda: parse_choices("fp32,,bf16", ("fp32", "bf16")),
            "takes a comma-separated list of fp32, bf16; got 'fp32,,bf16'",
        ),
        (
            lambda: parse_batches("1,0"),
            "takes positive integers up to 2**31, e.g. 1,32,256; got '1,0'",
        ),
        (lambda: parse_sort("-", ("macs",)), "needs a column name, e.g. macs or -macs; got '-'"),
        (
            lambda: parse_sort("flops", ("variant", "macs")),
            "'flops' is not a column; choose one of variant, macs",
        ),
    ],
)
def test_errors_name_no_option(parse, message):
    with pytest.raises(InputError) as caught:
        parse()
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["rf", "googlenet", "--input", "3x224"],
            "--input takes an image shape CxHxW here, e.g. 3x299x299; got '3x224'",
        ),
        (
            ["latency", "googlenet", "--mode", "jit"],
            "--mode takes a comma-separated list of eager, graph, compile; got 'jit'",
        ),
        (
            ["latency", "googlenet", "--batch", "1,0"],
            "--batch takes positive integers up to 2**31, e.g. 1,32,256; got '1,0'",
        ),
    ],
)
def test_the_command_line_names_the_option(args, line):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.output == f"incprof: error: {line}\n"
