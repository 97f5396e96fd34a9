"""The published cost claims of the Inception papers and model zoos, as data, each checked
against every counting convention (see :mod:`incprof.analysis.conventions`).

Each claim keeps its figure as published, the unit it was published in, where it was
published and the words around it. Its tolerance is the printed rounding (half a step of
the last printed digit), so "1.5 billion" holds for 1.45 to 1.55 billion and "27161264"
only for itself. Papers that state no absolute figure are listed in
:data:`NO_FIGURE`, not given one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from incprof.analysis.conventions import (
    DOES_NOT_HOLD,
    HOLDS,
    ClaimCheck,
    Figure,
    Tried,
    check_claim,
)
from incprof.studies.googlenet_table1 import GOOGLENET_TABLE1, TABLE1_VARIANT, parse_printed

GOOGLENET_PAPER = "Szegedy et al. 2014, 'Going deeper with convolutions', arXiv 1409.4842"
RETHINKING_PAPER = (
    "Szegedy et al. 2015, 'Rethinking the Inception Architecture for Computer Vision', "
    "arXiv 1512.00567"
)
BN_PAPER = "Ioffe & Szegedy 2015, 'Batch Normalization', arXiv 1502.03167"
V4_PAPER = (
    "Szegedy et al. 2016, 'Inception-v4, Inception-ResNet and the Impact of Residual "
    "Connections on Learning', arXiv 1602.07261"
)
TV_GOOGLENET = (
    "torchvision torchvision/models/googlenet.py, GoogLeNet_Weights.IMAGENET1K_V1 meta "
    "(https://pytorch.org/vision/stable/models.html)"
)
TV_INCEPTION = (
    "torchvision torchvision/models/inception.py, Inception_V3_Weights.IMAGENET1K_V1 meta "
    "(https://pytorch.org/vision/stable/models.html)"
)


class PublishedClaim(NamedTuple):
    """A published figure about one network, as printed, and where it was printed."""

    key: str
    variant: str  # the registered entry it is about
    value: float
    unit: str  # as published: macs (multiply-adds, GMACs), flops (GFLOPS), params
    printed: str
    tolerance_pct: float  # the printed rounding: half a step of the last digit
    source: str
    quote: str
    at_most: bool = False  # a bound ("less than 25 million")
    note: str = ""


def rounding_pct(value: float, step: float) -> float:
    """Half a step of the last printed digit, in percent of the printed value."""
    return 100 * step / 2 / value


def _table1_total(column: str) -> tuple[float, float]:
    """The sum of Table 1's printed ``column`` (params or ops) and the sum of the rows'
    rounding, in units."""
    scale = {"K": 1e3, "M": 1e6}
    total = rounding = 0.0
    for row in GOOGLENET_TABLE1:
        text = getattr(row, column)
        if text:
            printed = parse_printed(text)
            total += printed.value * scale[printed.letter]
            rounding += printed.step / 2 * scale[printed.letter]
    return total, rounding


def _table1_claim(key: str, column: str, unit: str, what: str) -> PublishedClaim:
    total, rounding = _table1_total(column)
    return PublishedClaim(
        key=key,
        variant=TABLE1_VARIANT,
        value=total,
        unit=unit,
        printed=f"Table 1 '{column}' column, summed: {total:,.0f}",
        tolerance_pct=100 * rounding / total,
        source=f"{GOOGLENET_PAPER}, Table 1",
        quote=f"{what} per row, e.g. '2.7K' / '34M' for the first convolution",
        note="The tolerance adds up each row's rounding. See the GoogLeNet Table 1 page for "
        "the rows whose printed figures do not follow from their own widths.",
    )


PUBLISHED_CLAIMS: tuple[PublishedClaim, ...] = (
    PublishedClaim(
        key="googlenet_budget",
        variant="googlenet",
        value=1.5e9,
        unit="macs",
        printed="1.5 billion multiply-adds",
        tolerance_pct=rounding_pct(1.5e9, 0.1e9),
        source=f"{GOOGLENET_PAPER}, section 1 (Introduction)",
        quote="the models were designed to keep a computational budget of 1.5 billion "
        "multiply-adds at inference time",
        note="A design budget; torchvision's googlenet, which has 3×3 convolutions where the "
        "paper's Table 1 has 5×5, gives 1.498 billion.",
    ),
    _table1_claim("googlenet_table1_ops", "ops", "macs", "'ops' printed"),
    _table1_claim("googlenet_table1_params", "params", "params", "'params' printed"),
    PublishedClaim(
        key="googlenet_5m_params",
        variant="googlenet",
        value=5e6,
        unit="params",
        printed="5 million parameters",
        tolerance_pct=rounding_pct(5e6, 1e6),
        source=f"{RETHINKING_PAPER}, section 1 (Introduction)",
        quote="GoogleNet employed only 5 million parameters, which represented a 12× "
        "reduction with respect to its predecessor AlexNet",
    ),
    PublishedClaim(
        key="inception_v3_5b",
        variant="inception_v3",
        value=5e9,
        unit="macs",
        printed="5 billion multiply-adds",
        tolerance_pct=rounding_pct(5e9, 1e9),
        source=f"{RETHINKING_PAPER}, abstract",
        quote="a network with a computational cost of 5 billion multiply-adds per inference",
    ),
    PublishedClaim(
        key="inception_v3_25m",
        variant="inception_v3",
        value=25e6,
        unit="params",
        printed="less than 25 million parameters",
        tolerance_pct=0.0,
        source=f"{RETHINKING_PAPER}, abstract",
        quote="and with using less than 25 million parameters",
        at_most=True,
    ),
    PublishedClaim(
        key="bn_inception_13_6m",
        variant="bn_inception",
        value=13.6e6,
        unit="params",
        printed="13.6·10⁶ parameters",
        tolerance_pct=rounding_pct(13.6e6, 0.1e6),
        source=f"{BN_PAPER}, section 4.2",
        quote="The network contains 13.6·10⁶ parameters, and, other than the top softmax "
        "layer, has no fully-connected layers.",
        note="The paper states no multiply-add count. incprof's bn_inception is the "
        "pretrainedmodels layout of the paper's Figure 5.",
    ),
    PublishedClaim(
        key="torchvision_googlenet_gflops",
        variant="googlenet_tv",
        value=1.498e9,
        unit="flops",
        printed='GFLOPS 1.498 ("_ops"; the documentation table rounds it to 1.5)',
        tolerance_pct=rounding_pct(1.498e9, 0.001e9),
        source=TV_GOOGLENET,
        quote='"_ops": 1.498',
    ),
    PublishedClaim(
        key="torchvision_googlenet_params",
        variant="googlenet_tv",
        value=6_624_904,
        unit="params",
        printed="num_params 6624904",
        tolerance_pct=0.0,
        source=TV_GOOGLENET,
        quote='"num_params": 6624904',
    ),
    PublishedClaim(
        key="torchvision_inception_v3_gflops",
        variant="inception_v3",
        value=5.713e9,
        unit="flops",
        printed='GFLOPS 5.713 ("_ops"; the documentation table shows 5.71)',
        tolerance_pct=rounding_pct(5.713e9, 0.001e9),
        source=TV_INCEPTION,
        quote='"_ops": 5.713',
    ),
    PublishedClaim(
        key="torchvision_inception_v3_params",
        variant="inception_v3",
        value=27_161_264,
        unit="params",
        printed="num_params 27161264",
        tolerance_pct=0.0,
        source=TV_INCEPTION,
        quote='"num_params": 27161264',
    ),
    *(
        claim
        for model, variant, params, gmacs in (
            ("inception_v3.tv_in1k", "inception_v3", 23.8, 5.7),
            ("inception_v4.tf_in1k", "inception_v4", 42.7, 12.3),
            ("inception_resnet_v2.tf_in1k", "inception_resnet_v2", 55.8, 13.2),
        )
        for claim in (
            PublishedClaim(
                key=f"timm_{variant}_params",
                variant=variant,
                value=params * 1e6,
                unit="params",
                printed=f"Params (M): {params}",
                tolerance_pct=rounding_pct(params, 0.1),
                source=f"timm model card, https://huggingface.co/timm/{model}",
                quote=f"Params (M): {params}",
            ),
            PublishedClaim(
                key=f"timm_{variant}_gmacs",
                variant=variant,
                value=gmacs * 1e9,
                unit="macs",
                printed=f"GMACs: {gmacs}",
                tolerance_pct=rounding_pct(gmacs, 0.1),
                source=f"timm model card, https://huggingface.co/timm/{model}",
                quote=f"GMACs: {gmacs}, Image size: 299 x 299",
            ),
        )
    ),
)

# Papers of the family that give no absolute cost figure to check, and what they give.
NO_FIGURE: tuple[tuple[str, str], ...] = (
    (
        V4_PAPER,
        "no multiply-add or parameter count that we found: it compares the networks with "
        "each other only (Inception-ResNet-v1 at 'roughly the computational cost of "
        "Inception-v3', Inception-ResNet-v2 matching 'the raw cost of' Inception-v4)",
    ),
)

Figures = Callable[[str], list[Figure]]
# How many other holding conventions a claim's row names.
OTHERS_SHOWN = 3


def _others(check: ClaimCheck, best: Tried | None) -> str:
    """The other conventions a claim holds under, closest first: a match under an
    unexpected convention is then seen beside the expected one."""
    others = [t.figure.convention.label() for t in check.holding if t is not best]
    text = "; ".join(others[:OTHERS_SHOWN])
    if len(others) > OTHERS_SHOWN:
        text += f"; {len(others) - OTHERS_SHOWN} more"
    return text


def claim_records(figures_of: Figures) -> list[dict[str, Any]]:
    """One record per published claim: its verdict, the convention that reproduces it
    (the closest in its own unit, else in any) or the nearest, and the remainder.
    ``figures_of(variant)`` gives a variant's figures (read once per variant)."""
    cache: dict[str, list[Figure]] = {}
    records = []
    for claim in PUBLISHED_CLAIMS:
        if claim.variant not in cache:
            cache[claim.variant] = figures_of(claim.variant)
        check = check_claim(
            claim.variant,
            cache[claim.variant],
            claim.value,
            unit=claim.unit,
            tolerance_pct=claim.tolerance_pct,
            at_most=claim.at_most,
        )
        if check.verdict == HOLDS:
            best = next(t for t in check.tried if t.holds and t.unit_as_claimed)
        elif check.verdict == DOES_NOT_HOLD:
            best = check.nearest
        else:
            best = check.holding[0]
        convention = best.figure.convention if best else None
        records.append(
            {
                "key": claim.key,
                "variant": claim.variant,
                "printed": claim.printed,
                "value": claim.value,
                "unit": claim.unit,
                "tolerance_pct": claim.tolerance_pct,
                "verdict": check.verdict,
                "convention": convention.label() if convention else None,
                "tool": convention.tool if convention else None,
                "figure": best.figure.value if best else None,
                "figure_unit": convention.unit if convention else None,
                "deviation_pct": best.deviation_pct if best else None,
                "also_holds_under": _others(check, best),
                "remainder": claim.value - best.figure.value if best else None,
                "source": claim.source,
                "quote": claim.quote,
                "note": claim.note,
                "by_category": check.remainder() if check.verdict == DOES_NOT_HOLD else [],
            }
        )
    return records
