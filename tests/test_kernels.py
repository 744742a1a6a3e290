"""The speed-motivated kernels compute the same science: gram vs dense loss, the allocator setting."""

import sys
from types import SimpleNamespace

import pytest
import torch

from mftctl.config import DataConfig, LossConfig
from mftctl.science.data import make_generator, two_hot_batch
from mftctl.science.losses import decoder_loss_parts, gram_pays
from mftctl.science.train import train


def _problem(n=24, d=14, h=6, k=2, seed=0, amplitude_range=(0.5, 1.5)):
    data = DataConfig(d=d, sparsity=k, amplitude_min=amplitude_range[0], amplitude_max=amplitude_range[1])
    batch = two_hot_batch(n, data, make_generator(seed, torch.device("cpu")))
    batch.x, batch.amps = batch.x.double(), batch.amps.double()
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, dtype=torch.float64, generator=gen, requires_grad=True)
    decoder = torch.nn.Linear(h, d).double()
    with torch.no_grad():  # a non-zero bias exercises every bias term of the gram kernel
        decoder.bias.normal_(generator=gen)
    return hidden, decoder, batch


@pytest.mark.parametrize("loss_type", ["scaled_mse", "mse"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_gram_kernel_equals_dense_in_value_and_gradient(loss_type, k):
    hidden, decoder, batch = _problem(k=k)
    cfg = LossConfig(loss_type=loss_type, lambda_on=16.0, lambda_off=0.7)
    params = (hidden, decoder.weight, decoder.bias)
    results = {}
    for kernel in ("dense", "gram"):
        parts = decoder_loss_parts(hidden, decoder, batch, cfg, kernel)
        results[kernel] = (parts, torch.autograd.grad(parts.total, params))
    (dense, dense_grads), (gram, gram_grads) = results["dense"], results["gram"]
    for name in ("total", "on", "off"):
        assert getattr(gram, name).item() == pytest.approx(getattr(dense, name).item(), rel=1e-12)
    for g, ref in zip(gram_grads, dense_grads, strict=True):
        assert torch.allclose(g, ref, rtol=1e-10, atol=1e-12)
    assert not gram.on.requires_grad and not gram.off.requires_grad


def test_gram_kernel_passes_gradcheck():
    hidden, decoder, batch = _problem(n=10, d=9, h=4)
    cfg = LossConfig()

    def total(a, w, b):  # the kernel reads only these three attributes of the decoder
        layer = SimpleNamespace(weight=w, bias=b, out_features=w.shape[0])
        return decoder_loss_parts(a, layer, batch, cfg, "gram").total

    weight = decoder.weight.detach().clone().requires_grad_(True)
    bias = decoder.bias.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(total, (hidden, weight, bias))


def test_gram_kernel_with_a_frozen_encoder_moves_only_the_decoder():
    hidden, decoder, batch = _problem()
    hidden = hidden.detach()
    parts = decoder_loss_parts(hidden, decoder, batch, LossConfig(), "gram")
    parts.total.backward()
    dense_decoder = torch.nn.Linear(decoder.in_features, decoder.out_features).double()
    dense_decoder.load_state_dict(decoder.state_dict())
    decoder_loss_parts(hidden, dense_decoder, batch, LossConfig(), "dense").total.backward()
    assert torch.allclose(decoder.weight.grad, dense_decoder.weight.grad, rtol=1e-10, atol=1e-12)
    assert torch.allclose(decoder.bias.grad, dense_decoder.bias.grad, rtol=1e-10, atol=1e-12)


def test_auto_picks_gram_where_it_saves_flop():
    assert gram_pays(10_000, 1024, 512)  # reference_3blob
    assert gram_pays(1_000, 128, 64)  # quick
    assert not gram_pays(10_000, 64, 512)  # wider hidden layer than signal: dense is cheaper
    assert not gram_pays(100, 1024, 512)  # small batch: the per-step d·h² terms dominate


def _with_training(config, **values):
    return config.model_copy(update={"training": config.training.model_copy(update=values)})


def test_training_with_either_kernel_gives_the_same_run(tiny_config):
    runs = {k: train(_with_training(tiny_config, decoder_kernel=k)) for k in ("dense", "gram")}
    dense, gram = runs["dense"], runs["gram"]
    assert [e.test_loss for e in gram.epochs] == pytest.approx([e.test_loss for e in dense.epochs], rel=1e-4)
    # float32 rounding differs between the kernels, and Adam carries the difference along, a little
    assert torch.allclose(gram.model.fc2.weight, dense.model.fc2.weight, rtol=1e-3, atol=1e-5)
    assert not torch.equal(gram.model.fc2.weight, dense.model.fc2.weight)  # the switch switched


def test_matmul_precision_applies_during_training_only(tiny_config):
    seen = []

    class Probe:
        def on_step(self, *a):
            seen.append(torch.get_float32_matmul_precision())

        def on_epoch(self, r):
            pass

        def on_checkpoint(self, e, s):
            pass

    before = torch.get_float32_matmul_precision()
    train(_with_training(tiny_config, matmul_precision="medium"), Probe())
    assert set(seen) == {"medium"}
    assert torch.get_float32_matmul_precision() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_keep_large_blocks_takes_effect_on_glibc():
    import platform

    from mftctl.runs.allocator import keep_large_blocks

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert keep_large_blocks() is True


def test_noise_streams_depend_on_the_seed_alone_not_the_thread_count():
    from mftctl.science.data import NoiseStreams

    threads = torch.get_num_threads()
    draws = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            with NoiseStreams(5, torch.device("cpu")) as noise:  # 2M numbers: the threaded path
                draws.append(noise.fill_(torch.empty(2_000, 1_000)).clone())
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])
    x = draws[0]
    assert abs(x.mean().item()) < 0.005 and x.var().item() == pytest.approx(1.0, abs=0.005)
    # blocks of rows from different generators are not copies of one another
    assert not torch.equal(x[:250], x[250:500])
    with NoiseStreams(6, torch.device("cpu")) as other:
        assert not torch.equal(other.fill_(torch.empty(2_000, 1_000)), x)


def test_noise_state_round_trips():
    from mftctl.science.data import NoiseStreams

    with NoiseStreams(1, torch.device("cpu")) as a, NoiseStreams(2, torch.device("cpu")) as b:
        b.set_state(a.get_state())
        assert torch.equal(a.fill_(torch.empty(64, 8)), b.fill_(torch.empty(64, 8)))


def test_a_checkpoint_from_before_the_noise_streams_still_resumes(tiny_config):
    states = {}

    class Keep:
        def on_step(self, *a):
            pass

        def on_epoch(self, r):
            pass

        def on_checkpoint(self, epoch, state):
            states[epoch] = state

    train(tiny_config, Keep())
    old_style = dict(states[1], rng={k: v for k, v in states[1]["rng"].items() if k != "noise"})
    resumed = train(tiny_config, resume=old_style)
    assert [e.epoch for e in resumed.epochs] == [2]
    assert resumed.epochs[0].test_loss < 32  # trained on: below the output-0 reference
