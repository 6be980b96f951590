"""Chunked feature computations: resumable, and shared by processes that
start the same computation (one per core)."""

import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tfgen import files, metrics
from tfgen.metrics import features as features_module
from tfgen.metrics import reference


class _SlowExtractor:
    """Mean and max of each image, with a pause per call so peers overlap."""

    def __init__(self, pause=0.05):
        self.pause = pause
        self.calls = []
        self.lock = threading.Lock()

    def features(self, images, desc=None, **kwargs):
        with self.lock:
            self.calls.append((threading.current_thread().name, len(images)))
        time.sleep(self.pause)
        flat = np.asarray(images, "float32").reshape(len(images), -1)
        return np.stack([flat.mean(1), flat.max(1)], axis=1)


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(features_module, "POLL_SECONDS", 0.01)


def _images(n=23):
    return np.random.default_rng(0).integers(0, 256, (n, 4, 4, 1), dtype="uint8")


def _expected(images):
    return _SlowExtractor(0).features(images)


def _dead_pid():
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_peers_share_the_chunks_and_agree(tmp_path):
    images = _images()
    extractor = _SlowExtractor()
    out = {}

    def run(name):
        out[name] = features_module.chunked_features(
            images, extractor, str(tmp_path / "c"), {"k": 1}, "f", chunk_size=5
        )

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 23 images in chunks of 5: each of the 5 chunks computed exactly once,
    # by one peer or the other, and both peers return all of them.
    assert sorted(n for _, n in extractor.calls) == [3, 5, 5, 5, 5]
    assert {name for name, _ in extractor.calls} == {"a", "b"}
    np.testing.assert_array_equal(out["a"], _expected(images))
    np.testing.assert_array_equal(out["b"], out["a"])
    assert not [f for f in os.listdir(tmp_path / "c") if f.endswith(".claim")]


def test_a_live_claim_is_waited_for_and_a_dead_one_taken_over(tmp_path):
    images = _images(10)
    directory = tmp_path / "c"
    host = socket.gethostname()
    directory.mkdir()
    # Chunk 0:5 is claimed by a live process (this test's parent), chunk
    # 5:10 by a process that has exited.
    (directory / "00000000-00000005.npy.claim").write_text(f"{host} {os.getppid()}")
    (directory / "00000005-00000010.npy.claim").write_text(f"{host} {_dead_pid()}")
    extractor = _SlowExtractor(0)

    def peer_finishes_chunk_0():
        time.sleep(0.3)
        path = directory / "00000000-00000005.npy"
        files.write_atomic(
            str(path), lambda p: features_module._save_array(p, _expected(images[:5]))
        )
        os.remove(str(path) + ".claim")

    peer = threading.Thread(target=peer_finishes_chunk_0)
    peer.start()
    result = features_module.chunked_features(
        images, extractor, str(directory), {"k": 1}, "f", chunk_size=5
    )
    peer.join()
    assert [n for _, n in extractor.calls] == [5]  # only the dead peer's chunk
    np.testing.assert_array_equal(result, _expected(images))


def test_chunks_of_another_request_are_discarded(tmp_path):
    images = _images(10)
    first = _SlowExtractor(0)
    features_module.chunked_features(images, first, str(tmp_path), {"k": 1}, "f", 5)
    again = _SlowExtractor(0)
    features_module.chunked_features(images, again, str(tmp_path), {"k": 1}, "f", 5)
    assert again.calls == []  # resumed from the stored chunks
    other = _SlowExtractor(0)
    features_module.chunked_features(images, other, str(tmp_path), {"k": 2}, "f", 5)
    assert len(other.calls) == 2


def test_peers_share_a_reference_split(
    tmp_path, monkeypatch, fake_data_dir, pixel_stats_protocol
):
    """Two peers ask for the same split's statistics and features: each
    chunk is computed once, both get the split's numbers, and the last one
    to finish removes the chunks."""
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(reference, "CHUNK_SIZE", 4)
    extractor = _SlowExtractor()
    extractor.protocol = pixel_stats_protocol
    out = {}
    kwargs = dict(data_dir=fake_data_dir, extractor=extractor, progress=False)

    def statistics():
        out["stats"] = metrics.reference_statistics("mnist", "train", **kwargs)

    def features():
        out["features"] = metrics.reference_features("mnist", "train", **kwargs)

    threads = [threading.Thread(target=statistics), threading.Thread(target=features)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(n for _, n in extractor.calls) == 32  # the fake split, once
    whole = metrics.compute_statistics(out["features"].features)
    np.testing.assert_allclose(out["stats"].mu, whole.mu, rtol=1e-6)
    np.testing.assert_allclose(out["stats"].sigma, whole.sigma, rtol=1e-6, atol=1e-9)
    assert not [
        f for f in os.listdir(tmp_path / "cache" / "reference_stats") if "chunks" in f
    ]


def test_the_last_live_participant_removes_the_folder(tmp_path):
    images = _images(10)
    directory = str(tmp_path / "c")
    features_module.chunked_features(images, _SlowExtractor(0), directory, {}, "f", 5)
    other = os.path.join(directory, "peer-other")
    host = socket.gethostname()
    with open(other, "w") as f:
        f.write(f"{host} {os.getppid()}")  # a live peer still at work
    features_module.release_chunks(directory)
    assert sorted(os.listdir(directory)) == [
        "00000000-00000005.npy",
        "00000005-00000010.npy",
        "key.json",
        "peer-other",
    ]
    with open(other, "w") as f:
        f.write(f"{host} {_dead_pid()}")  # it died: nobody is left
    features_module.release_chunks(directory)
    assert not os.path.exists(directory)
