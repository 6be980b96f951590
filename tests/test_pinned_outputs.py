"""Every shipped zoo entry samples (and scores) exactly as it did before the
issue-17 refactor: see `pinned_outputs.py`."""

import numpy as np
import pytest
from pinned_outputs import compute, load

import tfgen

PINS = load()


def test_every_entry_is_pinned():
    assert sorted(PINS) == sorted(tfgen.zoo.list())


@pytest.mark.parametrize("name", sorted(PINS))
def test_entry_matches_its_pinned_outputs(name):
    got = compute(name)
    assert sorted(got) == sorted(PINS[name])
    for key, expected in PINS[name].items():
        # Sampled binary and 8-bit pixels are exact; float outputs and
        # likelihoods agree to float32 round-off.
        np.testing.assert_allclose(
            got[key], expected, rtol=1e-5, atol=1e-5, err_msg=f"{name}: {key}"
        )
