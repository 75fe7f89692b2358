import io

import pytest
import torch

from degradations import TrainingPairPool


def batch(start, b=4):
    ids = torch.arange(start, start + b, dtype=torch.float32)
    return {"lq": ids.view(-1, 1, 1, 1).expand(b, 3, 2, 2).clone(), "gt": ids.view(-1, 1, 1, 1).expand(b, 3, 8, 8).clone()}


def ids(pairs):
    return pairs["lq"][:, 0, 0, 0].long().tolist()


def test_filling_returns_the_batch_then_swaps_uniformly_without_replacement():
    pool, gen = TrainingPairPool(10), torch.Generator().manual_seed(0)
    assert ids(pool.swap(batch(0), gen)) == [0, 1, 2, 3]
    assert ids(pool.swap(batch(4), gen)) == [4, 5, 6, 7]
    # size 10 is not a multiple of 4: the third call fills the last 2 slots (no assertion)
    assert ids(pool.swap(batch(8), gen)) == [8, 9, 10, 11] and len(pool) == 10
    seen = ids(pool.swap(batch(100), gen))
    assert len(set(seen)) == 4 and set(seen) <= set(range(10))  # earlier pairs, no repeats
    held = set(pool.store["lq"][:, 0, 0, 0].long().tolist())
    assert {100, 101, 102, 103} <= held and not set(seen) & held
    # lq and gt stay paired
    out = pool.swap(batch(200), gen)
    assert torch.equal(out["gt"][:, 0, 0, 0], out["lq"][:, 0, 0, 0])


def test_state_dict_round_trip_continues_identically():
    gen = torch.Generator().manual_seed(1)
    pool = TrainingPairPool(6)
    for i in range(3):
        pool.swap(batch(10 * i, 3), gen)
    buf = io.BytesIO()
    torch.save({"pool": pool.state_dict(), "rng": gen.get_state()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    restored, gen2 = TrainingPairPool(6), torch.Generator()
    restored.load_state_dict(saved["pool"])
    gen2.set_state(saved["rng"])
    for i in range(3, 6):
        a, b = pool.swap(batch(10 * i, 3), gen), restored.swap(batch(10 * i, 3), gen2)
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])


def test_8bit_values_are_stored_as_uint8_and_restored_bit_exactly():
    gen = torch.Generator().manual_seed(2)
    pool = TrainingPairPool(4)
    lq = torch.randint(0, 256, (4, 3, 2, 2), generator=gen).float() / 255  # on the 8-bit grid
    gt = torch.rand(4, 3, 8, 8, generator=gen)  # not on it (like USM-sharpened GT)
    pool.swap({"lq": lq, "gt": gt}, gen)
    state = pool.state_dict()
    assert state["uint8"] == ["lq"] and state["store"]["lq"].dtype == torch.uint8
    assert state["store"]["gt"].dtype == torch.float32
    restored = TrainingPairPool(4)
    restored.load_state_dict(state)
    assert torch.equal(restored.store["lq"], lq) and torch.equal(restored.store["gt"], gt)


def test_pool_errors():
    gen = torch.Generator()
    with pytest.raises(ValueError, match="queue_size"):
        TrainingPairPool(0)
    with pytest.raises(ValueError, match="raise queue_size"):
        TrainingPairPool(2).swap(batch(0, 4), gen)
    pool = TrainingPairPool(8)
    pool.swap(batch(0), gen)
    with pytest.raises(ValueError, match="pool holds"):
        pool.swap({"lq": batch(0)["lq"]}, gen)
    with pytest.raises(ValueError, match="keep queue_size"):
        TrainingPairPool(9).load_state_dict(pool.state_dict())


def call_batch(call, b=4):
    """Call ``call``'s batch: pair j carries the id 100 * call + j."""
    return batch(100 * call, b)


def seeded(call):
    return torch.Generator().manual_seed(1000 + call)


@pytest.mark.parametrize("calls", [1, 2, 3, 4, 9, 40])
def test_origins_name_the_call_and_sample_each_slot_holds(calls):
    pool = TrainingPairPool(10)  # 4 does not divide 10: the third call fills 2 slots
    for call in range(1, calls + 1):
        pool.swap(call_batch(call), seeded(call))
    origins = TrainingPairPool(10).origins(calls, 4, seeded)
    assert len(origins) == len(pool) == min(10, 4 * calls)
    assert [100 * call + j for call, j in origins] == ids({"lq": pool.store["lq"][: len(pool)]})


def test_rebuild_from_fingerprints_restores_the_pool_and_notices_changed_pairs():
    pool = TrainingPairPool(10)
    for call in range(1, 13):
        pool.swap(call_batch(call), seeded(call))
    state = pool.state_dict(contents=False)
    assert set(state) == {"size", "count", "fingerprints"} and state["fingerprints"].shape == (10,)
    asked = []

    def produce(calls):
        asked.extend(calls)
        return (call_batch(c) for c in calls)

    rebuilt = TrainingPairPool(10)
    assert rebuilt.rebuild(state, 12, 4, seeded, produce) == 0
    assert asked == sorted(set(asked)) and len(asked) < 12  # only the calls still represented, in order
    for k, v in pool.store.items():
        assert torch.equal(v, rebuilt.store[k])
    for call in range(13, 16):  # and it continues the same way
        a, b = pool.swap(call_batch(call), seeded(call)), rebuilt.swap(call_batch(call), seeded(call))
        assert torch.equal(a["gt"], b["gt"])

    def changed(calls):  # one image of the newest call is different now
        for c in calls:
            pairs = call_batch(c)
            if c == calls[-1]:
                pairs["gt"][0] += 1
            yield pairs

    assert TrainingPairPool(10).rebuild(state, 12, 4, seeded, changed) == 1  # the newest pairs are always held
    with pytest.raises(ValueError, match="rebuild"):
        TrainingPairPool(10).load_state_dict(state)
