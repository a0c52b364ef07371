import numpy as np
import pytest

from engine.model import rng

# Random123's published known-answer vectors for Philox4x32-10 (kat_vectors):
# counter words, key words, expected output.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_matches_random123_known_answers(ctr, key, want):
    assert tuple(int(w) for w in rng.philox4x32_10(*ctr, *key)) == want


def test_uniforms_are_in_the_open_unit_interval_and_uniform():
    u = rng.uniforms(np.uint64(123), np.arange(200_000, dtype=np.int64), 0, 1, 0)
    assert u.min() > 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.003
    counts, _ = np.histogram(u, bins=20, range=(0, 1))
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 45  # 19 degrees of freedom, p ~ 0.001


def test_normals_have_unit_moments():
    z = rng.normals(np.uint64(5), np.arange(200_000, dtype=np.int64), 3, 2, 9)
    assert abs(z.mean()) < 0.01
    assert abs(z.std() - 1.0) < 0.01
    assert abs((z > 1.96).mean() - 0.025) < 0.002


def test_draws_depend_on_every_part_of_the_counter_and_key():
    base = rng.uniform(np.uint64(1), 2, 3, 4, 5)
    variants = [
        rng.uniform(np.uint64(9), 2, 3, 4, 5),
        rng.uniform(np.uint64(1), 9, 3, 4, 5),
        rng.uniform(np.uint64(1), 2, 9, 4, 5),
        rng.uniform(np.uint64(1), 2, 3, 9, 5),
        rng.uniform(np.uint64(1), 2, 3, 4, 9),
        rng.uniform(np.uint64(1 + 2**40), 2, 3, 4, 5),
    ]  # high seed bits count too
    assert len({base, *variants}) == 7


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_draws_are_identical_whatever_the_block_of_patients(block):
    ids = np.arange(1000, dtype=np.int64)
    whole = rng.normals(np.uint64(42), ids, 11, 2, 3)
    parts = np.concatenate(
        [rng.normals(np.uint64(42), ids[i : i + block], 11, 2, 3) for i in range(0, 1000, block)]
    )
    assert np.array_equal(whole, parts)
    one_by_one = np.array([rng.normal(np.uint64(42), int(i), 11, 2, 3) for i in ids[::97]])
    assert np.array_equal(whole[::97], one_by_one)
