"""MLP: counts against closed forms and hand counts, normalisation against numpy statistics."""

import numpy as np
import pytest
import torch

from constructive import Counts
from experiments.models.mlp import MLP, count_mlp, folded_affine_maps


def closed_form_params(n_in, n_out, w, depth):
    """Params of a dense ReLU net with `depth` hidden layers of width w (module docstring)."""
    if depth == 0:
        return n_in * n_out + n_out
    return n_in * w + w + (depth - 1) * (w * w + w) + w * n_out + n_out


@pytest.mark.parametrize(
    "n_in, n_out, width, depth",
    [(9, 9, 64, 0), (9, 9, 64, 1), (9, 9, 64, 2), (4, 1, 7, 3), (25, 25, 16, 5)],
)
def test_counts_equal_closed_form(n_in, n_out, width, depth):
    torch.manual_seed(0)
    model = MLP(n_in, n_out, width, depth)
    counts = count_mlp(model)
    assert isinstance(counts, Counts)
    assert counts == Counts(
        depth=depth,
        width=width if depth > 0 else 0,
        params=closed_form_params(n_in, n_out, width, depth),
    )


def test_docstring_worked_examples():
    assert count_mlp(MLP(9, 9, 64, 0)).params == 90
    assert count_mlp(MLP(9, 9, 64, 1)).params == 1225
    assert count_mlp(MLP(9, 9, 64, 2)).params == 5385


def test_pruned_weights_counted_by_hand():
    # 2 -> 3 -> 1, weights set by hand; 4 of the 13 entries are zero.
    model = MLP(2, 1, width=3, depth=1)
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]]))
        model.layers[0].bias.copy_(torch.tensor([0.0, 0.5, 0.0]))
        model.layers[1].weight.copy_(torch.tensor([[3.0, 0.0, 1.0]]))
        model.layers[1].bias.copy_(torch.tensor([-1.0]))
    # nonzero: W0 has 3, b0 has 1, W1 has 2, b1 has 1 -> 7
    assert count_mlp(model) == Counts(depth=1, width=3, params=7)
    # y = 3 relu(x1) + relu(-x1) - 1: at x = (-2, 5): 0 + 2 - 1 = 1; at (1, 0): 3 - 1 = 2
    x = torch.tensor([[-2.0, 5.0], [1.0, 0.0]])
    assert torch.equal(model(x), torch.tensor([[1.0], [2.0]]))


def test_pruning_a_random_network_lowers_params_by_the_zeros():
    torch.manual_seed(1)
    model = MLP(9, 9, 32, 3)
    removed = 0
    with torch.no_grad():
        for layer in model.layers:
            mask = torch.rand_like(layer.weight) < 0.3
            removed += int(mask.sum())
            layer.weight[mask] = 0.0
        model.layers[1].bias[:5] = 0.0
        removed += 5
    assert count_mlp(model).params == closed_form_params(9, 9, 32, 3) - removed


def test_normalisation_matches_numpy_statistics(rng):
    x = rng.normal(loc=[1.0, -2.0, 0.0], scale=[0.5, 3.0, 1.0], size=(500, 3))
    x[:, 2] = 7.0  # a constant coordinate: std treated as 1
    y = rng.uniform(-4.0, 10.0, size=(500, 2))
    model = MLP(3, 2, width=8, depth=2).double()
    model.set_normalisation(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(model.in_mean.numpy(), x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.in_std.numpy(), [x[:, 0].std(), x[:, 1].std(), 1.0], rtol=1e-12)
    np.testing.assert_allclose(model.out_mean.numpy(), y.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.out_std.numpy(), y.std(axis=0), rtol=1e-12)
    z = model.normalise_targets(torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)


def test_depth0_identity_map_round_trip(rng):
    # With W = I, b = 0 the normalised output is (x - mu_in) / s_in, and forward maps it back
    # through s_out, mu_out: forward(x) = (x - mu_in) / s_in * s_out + mu_out.
    x = torch.from_numpy(rng.normal(3.0, 2.0, size=(200, 4)))
    y = torch.from_numpy(rng.normal(-1.0, 5.0, size=(200, 4)))
    model = MLP(4, 4, width=1, depth=0).double()
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.eye(4))
        model.layers[0].bias.zero_()
    model.set_normalisation(x, y)
    mu_in, s_in = x.mean(0), x.std(0, unbiased=False)
    mu_out, s_out = y.mean(0), y.std(0, unbiased=False)
    torch.testing.assert_close(model.forward_normalised(x), (x - mu_in) / s_in)
    torch.testing.assert_close(model(x), (x - mu_in) / s_in * s_out + mu_out)
    # normalise_targets inverts the output map: forward(y-units) and targets line up
    torch.testing.assert_close(model.normalise_targets(model(x)), model.forward_normalised(x))


def test_state_dict_round_trip_keeps_normalisation(rng):
    x = torch.from_numpy(rng.normal(2.0, 3.0, size=(100, 9))).float()
    y = torch.from_numpy(rng.normal(-1.0, 0.1, size=(100, 9))).float()
    torch.manual_seed(0)
    model = MLP(9, 9, 16, 2)
    model.set_normalisation(x, y)
    assert {"in_mean", "in_std", "out_mean", "out_std"} <= set(model.state_dict())
    clone = MLP(9, 9, 16, 2)
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone(x), model(x))


def test_folded_network_reproduces_forward(rng):
    # The folded affine maps, evaluated by a plain numpy ReLU loop, compute model.forward.
    x = torch.from_numpy(rng.normal(1.0, 2.0, size=(64, 9)))
    y = torch.from_numpy(rng.normal(0.5, 4.0, size=(64, 9)))
    torch.manual_seed(2)
    model = MLP(9, 9, 20, 3).double()
    model.set_normalisation(x, y)
    maps = [(W.numpy(), b.numpy()) for W, b in folded_affine_maps(model)]
    h = x.numpy()
    for W, b in maps[:-1]:
        h = np.maximum(h @ W.T + b, 0.0)
    out = h @ maps[-1][0].T + maps[-1][1]
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-10, atol=1e-10)


def test_forward_casts_float64_input_and_runs_under_bf16_autocast():
    model = MLP(9, 9, 16, 2)
    x = torch.randn(5, 9, dtype=torch.float64)
    assert model(x).dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.forward_normalised(x)
    assert out.shape == (5, 9) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_in=0, n_out=9, width=4, depth=1),
        dict(n_in=9, n_out=9, width=0, depth=1),
        dict(n_in=9, n_out=9, width=4, depth=-1),
        dict(n_in=9, n_out=9, width=4.0, depth=1),
        dict(n_in=9, n_out=9, width=4, depth=True),
    ],
)
def test_bad_sizes_raise(kwargs):
    with pytest.raises(ValueError, match="must be an integer"):
        MLP(**kwargs)


def test_bad_normalisation_data_raise():
    model = MLP(3, 2, 4, 1)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        model.set_normalisation(torch.zeros(5, 4), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="same number"):
        model.set_normalisation(torch.zeros(5, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN or inf"):
        model.set_normalisation(torch.full((5, 3), float("nan")), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="expects an MLP"):
        count_mlp(torch.nn.Linear(3, 2))


def test_relu_network_export_matches_forward_and_counts(rng):
    from constructive import ReluNetwork, count

    x = torch.from_numpy(rng.normal(0.0, 1.0, size=(32, 4)))
    model = MLP(4, 4, 8, 2).double()
    model.set_normalisation(x, 2.0 * x + 1.0)
    net = model.to_relu_network()
    assert isinstance(net, ReluNetwork)
    torch.testing.assert_close(net(x), model(x).detach(), rtol=1e-12, atol=1e-12)
    assert count(net) == count_mlp(model)


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_forward_on_device_matches_cpu_and_counts_unchanged(device, rng):
    x = torch.from_numpy(rng.normal(0.0, 2.0, size=(16, 9)))
    model = MLP(9, 9, 32, 2).double()
    model.set_normalisation(x, x**2)
    ref = model(x)
    moved = model.to(device)
    torch.testing.assert_close(moved(x.to(device)).cpu(), ref, rtol=1e-12, atol=1e-12)
    assert count_mlp(moved) == Counts(2, 32, closed_form_params(9, 9, 32, 2))
