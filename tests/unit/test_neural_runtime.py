"""The torch engines' model building: modules whose weights a checkpoint brings draw no random weights."""

from __future__ import annotations

import threading

import pytest
import torch  # the test extras install the torch engines: a missing torch fails here, not skips

from polyvox.engines.neural.runtime import MODEL_BUILDING, weights_to_come


def test_modules_built_for_a_checkpoint_draw_no_random_weights_and_loading_fills_them() -> None:
    torch.manual_seed(0)
    before = torch.get_rng_state()
    elsewhere: list[bool] = []
    with weights_to_come():
        layer = torch.nn.Linear(64, 64)
        norm = torch.nn.LayerNorm(64)
        # Another engine's load, in another thread, waits: it would build modules without their weights.
        thread = threading.Thread(target=lambda: elsewhere.append(MODEL_BUILDING.acquire(blocking=False)))
        thread.start()
        thread.join()
    assert elsewhere == [False]
    assert torch.equal(torch.get_rng_state(), before)  # nothing drawn: what the file brings is all there is
    source = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.LayerNorm(64))
    layer.load_state_dict(source[0].state_dict())
    norm.load_state_dict(source[1].state_dict())
    assert torch.equal(layer.weight, source[0].weight) and torch.equal(norm.weight, source[1].weight)
    # The initialisers are back after the block, also when it raised.
    with pytest.raises(RuntimeError), weights_to_come():
        raise RuntimeError("a load that failed")
    drawn = torch.get_rng_state()
    torch.nn.Linear(64, 64)
    assert not torch.equal(torch.get_rng_state(), drawn)
    assert torch.equal(torch.nn.LayerNorm(8).weight, torch.ones(8))
