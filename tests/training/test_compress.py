import io

import pytest
import torch

from realsr.training import checkpoint, compress
from realsr.weights import WeightFileError, atomic_save


def moments(n: int, seed: int) -> dict:
    """Adam-like state: signed first moments and small positive second moments."""
    g = torch.Generator().manual_seed(seed)
    grads = torch.randn(8, n, generator=g) * 1e-3
    return {"exp_avg": grads.mean(0), "exp_avg_sq": grads.square().mean(0), "step": torch.tensor(5.0)}


def bits(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1).view(torch.uint8) if x.is_floating_point() else x


def saved(obj) -> tuple[int, object]:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    size = buffer.tell()
    buffer.seek(0)
    return size, torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_round_trip_is_bit_exact_and_loads_weights_only(dtype):
    state = {"optimizers": [{"state": {0: moments(1 << 17, 0), 1: moments(10, 1)}, "param_groups": [{"lr": 1e-4}]}],
             "iter": 7, "pool": (torch.rand(3, 1 << 16).to(dtype), torch.arange(5))}
    state["optimizers"][0]["state"][0]["exp_avg"] = state["optimizers"][0]["state"][0]["exp_avg"].to(dtype)
    size, loaded = saved(compress.pack(state))
    back = compress.unpack(loaded)
    big = loaded["optimizers"][0]["state"][0]
    assert compress.MARK in big["exp_avg"] and compress.MARK in big["exp_avg_sq"]
    assert isinstance(loaded["optimizers"][0]["state"][1]["exp_avg"], torch.Tensor)  # small: left alone
    assert back["iter"] == 7 and isinstance(back["pool"], tuple)
    for a, b in [(state["pool"][0], back["pool"][0]), (state["pool"][1], back["pool"][1])] + [
            (state["optimizers"][0]["state"][i][k], back["optimizers"][0]["state"][i][k])
            for i in (0, 1) for k in ("exp_avg", "exp_avg_sq", "step")]:
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(bits(a), bits(b))


def test_moments_shrink_and_unpacked_states_pass_through():
    state = moments(1 << 18, 2)
    plain, _ = saved(state)
    packed, _ = saved(compress.pack(state))
    assert packed < 0.9 * plain
    assert compress.unpack({"a": torch.ones(3), "b": [1, "x"]})["b"] == [1, "x"]


def test_a_damaged_plane_is_reported_as_a_damaged_state(tmp_path):
    run = tmp_path / "run" / "training_states"
    run.mkdir(parents=True)
    state = {"iter": 3, "net_g": {}, "optimizers": [moments(1 << 17, 3)]}
    path = checkpoint.save_state(state, run, 3)
    assert torch.equal(checkpoint.load_state(path)["optimizers"][0]["exp_avg_sq"], state["optimizers"][0]["exp_avg_sq"])
    packed = torch.load(path, weights_only=True)
    entry = packed["optimizers"][0]["exp_avg_sq"]
    k = entry["deflated"].index(True)
    entry["planes"][k] = entry["planes"][k][: len(entry["planes"][k]) // 2]  # cut short
    atomic_save(packed, path)
    with pytest.raises(WeightFileError, match="damaged"):
        checkpoint.load_state(path)
