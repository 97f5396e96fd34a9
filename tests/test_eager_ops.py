"""The host's share of an eager forward: ATen operators dispatched and module calls.

The per-network counts were taken from the reference implementations themselves
(torchvision 0.28.0, timm 1.0.29, pretrainedmodels 0.7.4; fp32, eval, batch 1, default
input), so equality here means our layout launches the same work in eager mode.
"""

import pytest
import torch
from user_models import tiny_net

import incprof
from incprof.analysis.latency import EagerOps, eager_ops
from incprof.analysis.trace import meta_model


def test_tiny_net_by_hand():
    # convolution, relu, mean (adaptive pool to 1), view (flatten), t + addmm (linear);
    # the Sequential and its five children are six module calls.
    with torch.device("meta"):
        model = tiny_net()
    assert eager_ops(model, (3, 16, 16)) == EagerOps(aten_ops=6, module_calls=6)


# name -> ATen ops of the reference's eager forward, and how ours differs in kind.
REFERENCE_OPS = {
    # torchvision.models.googlenet: same operators.
    "googlenet_tv": 254,
    # torchvision.models.inception_v3: same operators.
    "inception_v3": 408,
    # pretrainedmodels.bninception: same count; its 7×7 avg_pool2d head is our global mean.
    "bn_inception": 302,
    # timm inception_v4: timm concatenates each Inception-C block's two 1×3 / 3×1 pairs
    # first and then the four branches (2 extra cats × 3 blocks); ours concatenates once.
    "inception_v4": 643 - 6,
    # timm inception_resnet_v2: same count (its residual ReLUs are out of place, ours in place).
    "inception_resnet_v2": 1027,
}


@pytest.mark.parametrize("name", sorted(REFERENCE_OPS))
def test_networks_dispatch_what_their_reference_dispatches(name):
    variant = incprof.get(name)
    assert eager_ops(meta_model(variant), variant.input_shape).aten_ops == REFERENCE_OPS[name]


def test_weights_are_never_moved():
    with pytest.raises(ValueError, match="meta device"):
        eager_ops(tiny_net(), (3, 16, 16))
