"""Data-free bias correction (Nagel et al., ICCV 2019) against Monte Carlo."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import deepnets
import theory
from deepnets.bias_correction import bias_correct


class Net(nn.Module):
    def __init__(self, act: str):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 6, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 4)
        self.act = act
        self.relu6 = nn.ReLU6(inplace=True)

    def forward(self, x):
        h = self.bn1(self.conv1(x))
        h = F.relu(h) if self.act == "relu" else self.relu6(h)
        h = F.relu(self.bn2(self.conv2(h)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def _net(act, seed=0):
    torch.manual_seed(seed)
    m = Net(act)
    with torch.no_grad():
        for bn in (m.bn1, m.bn2):
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.uniform_(-1.0, 1.5)
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
    return m.eval()


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_shift_matches_monte_carlo_of_the_quantization_error(act):
    m = _net(act)
    qm, _ = deepnets.quantize(m, deepnets.QuantConfig(theory.Recipe("uniform", 2)))
    before = {k: v.clone() for k, v in qm.state_dict().items()}
    done = bias_correct(m, qm, torch.zeros(1, 3, 8, 8))
    assert done == ["conv2", "fc"]  # conv1 reads the image: no BatchNorm statistics, left alone
    # Monte Carlo: BN1's output channels as N(beta, gamma^2), through the activation, into (W_q - W)
    gen = torch.Generator().manual_seed(1)
    g, b = m.bn1.weight.detach(), m.bn1.bias.detach()
    y = b[None, :, None, None] + g[None, :, None, None] * torch.randn(4000, 8, 3, 3, generator=gen, dtype=torch.float64)
    x = F.relu(y) if act == "relu" else F.relu6(y)
    dW = qm.conv2.weight.detach().double() - m.conv2.weight.detach().double()
    d = F.conv2d(x, dW).reshape(4000, 6)
    mc, se = d.mean(0), d.std(0) / np.sqrt(4000)
    shift = qm.bn2.running_mean - before["bn2.running_mean"]
    assert torch.all((shift.double() - mc).abs() <= 4 * se + 1e-6), (shift, mc, se)
    assert torch.all(shift.abs() > 0)
    # the fc layer reads relu(bn2) through an average pool: its bias moved by (W_q - W) E[relu(N(beta2, gamma2^2))]
    g2, b2 = m.bn2.weight.detach().double(), m.bn2.bias.detach().double()
    y2 = b2 + g2 * torch.randn(200_000, 6, generator=gen, dtype=torch.float64)
    ex = F.relu(y2).mean(0)
    dfc = qm.fc.weight.detach().double() - m.fc.weight.detach().double()
    np.testing.assert_allclose((before["fc.bias"] - qm.fc.bias).detach().double(), dfc @ ex, atol=5e-3 * float(dfc.abs().sum(1).max()) + 1e-7)


def test_correction_restores_the_mean_output_of_each_channel():
    # end to end: on inputs whose BN1 outputs are Gaussian as assumed, the corrected model's conv2/bn2 output
    # means match the float model's far better than the uncorrected ones
    m = _net("relu", seed=3)
    qm, _ = deepnets.quantize(m, deepnets.QuantConfig(theory.Recipe("uniform", 2)))
    gen = torch.Generator().manual_seed(2)
    g, b = m.bn1.weight.detach(), m.bn1.bias.detach()
    x = F.relu(b[None, :, None, None] + g[None, :, None, None] * torch.randn(3000, 8, 3, 3, generator=gen))

    def out(model):
        with torch.no_grad():
            return model.bn2(model.conv2(x)).mean(dim=(0, 2, 3))

    ref, raw = out(m), out(qm)
    bias_correct(m, qm, torch.zeros(1, 3, 8, 8))
    fixed = out(qm)
    assert (fixed - ref).abs().max() < 0.3 * (raw - ref).abs().max()


def test_bias_correct_rejects_a_missing_example_input():
    m = _net("relu")
    qm, _ = deepnets.quantize(m, deepnets.QuantConfig("uniform", 2))
    with pytest.raises(ValueError, match="^example_input"):
        bias_correct(m, qm, None)
