"""Downloads against a real HTTP server on 127.0.0.1 started by the tests:
zoo weights (`tfgen.zoo.load`), the FID Inception weights
(`tfgen.metrics.inception.resolve_weights`) and datasets (`tfgen data
download`/`prepare`), each with a good transfer, a wrong sha256, a transfer
cut short and a host that is not there. Nothing here reaches beyond the
loopback interface."""

import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import tarfile
import threading

import numpy as np
import pytest

from tfgen import cli, data, downloads, files, zoo
from tfgen.metrics import inception


# ------------------------------------------------------------ the server
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        server = self.server
        server.requests.append(self.path)
        if self.path not in server.routes:
            self.send_error(404)
            return
        body, mode = server.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "short":
            # Half the promised body, then the connection closes.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A loopback HTTP server: `server.serve(path, body, mode)` publishes a
    body ("ok", or "short" to cut it in half); `server.url` is its root."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"

    def serve(path, body, mode="ok"):
        httpd.routes[path] = (body, mode)

    httpd.serve = serve
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url():
    """A loopback URL where nothing listens: the machine as if offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def digest(blob):
    return hashlib.sha256(blob).hexdigest()


def leftovers(folder):
    """Every file under `folder` (a failed download must leave none)."""
    return sorted(
        os.path.relpath(os.path.join(d, f), folder)
        for d, _, names in os.walk(folder)
        for f in names
    )


# ------------------------------------------------------------- fetch
class TestFetch:
    BODY = bytes(range(256)) * 40

    def test_good_download_then_reuse(self, server, tmp_path):
        server.serve("/f.bin", self.BODY)
        target = tmp_path / "sub" / "f.bin"
        path = downloads.fetch(
            server.url + "/f.bin", target, digest(self.BODY), progress=False
        )
        assert path == str(target) and target.read_bytes() == self.BODY
        downloads.fetch(server.url + "/f.bin", target, digest(self.BODY))
        assert server.requests == ["/f.bin"]  # the whole file is kept
        assert leftovers(tmp_path) == [os.path.join("sub", "f.bin")]

    def test_wrong_hash_keeps_nothing(self, server, tmp_path):
        server.serve("/f.bin", self.BODY)
        with pytest.raises(files.ChecksumError) as info:
            downloads.fetch(
                server.url + "/f.bin", tmp_path / "f.bin", "0" * 64, progress=False
            )
        message = str(info.value)
        assert "Expected: " + "0" * 64 in message
        assert f"Received: {digest(self.BODY)}" in message
        assert leftovers(tmp_path) == []

    def test_interrupted_transfer_keeps_nothing(self, server, tmp_path):
        server.serve("/f.bin", self.BODY, mode="short")
        with pytest.raises(downloads.DownloadError, match="cut short") as info:
            downloads.fetch(
                server.url + "/f.bin",
                tmp_path / "f.bin",
                digest(self.BODY),
                progress=False,
                remedy="Put it there by hand.",
            )
        assert f"received 5,120 bytes of the {len(self.BODY):,}" in str(info.value)
        assert str(info.value).endswith("Put it there by hand.")
        assert leftovers(tmp_path) == []

    def test_a_failed_download_keeps_the_previous_file(self, server, tmp_path):
        target = tmp_path / "f.bin"
        target.write_bytes(b"old")
        server.serve("/f.bin", self.BODY, mode="short")
        with pytest.raises(downloads.DownloadError):
            downloads.fetch(server.url + "/f.bin", target, digest(self.BODY))
        assert target.read_bytes() == b"old" and leftovers(tmp_path) == ["f.bin"]

    def test_offline_says_what_to_do(self, closed_port_url, tmp_path):
        with pytest.raises(downloads.DownloadError) as info:
            downloads.fetch(
                closed_port_url + "/f.bin",
                tmp_path / "f.bin",
                "a" * 64,
                remedy="Copy f.bin to X.",
            )
        message = str(info.value)
        assert "may be offline" in message and "Copy f.bin to X." in message
        assert leftovers(tmp_path) == []

    def test_size_bounds(self, server, tmp_path):
        server.serve("/f.bin", self.BODY)
        url, sha = server.url + "/f.bin", digest(self.BODY)
        with pytest.raises(downloads.DownloadError, match="Expected at most 100 bytes"):
            downloads.fetch(url, tmp_path / "f.bin", sha, max_bytes=100)
        with pytest.raises(downloads.DownloadError, match="Expected exactly 7 bytes"):
            downloads.fetch(url, tmp_path / "f.bin", sha, size=7)
        assert leftovers(tmp_path) == []

    def test_http_errors_and_bad_arguments(self, server, tmp_path):
        with pytest.raises(downloads.DownloadError, match="HTTP 404"):
            downloads.fetch(server.url + "/missing", tmp_path / "f", "a" * 64)
        with pytest.raises(ValueError, match="full sha256"):
            downloads.fetch(server.url + "/f.bin", tmp_path / "f", None)
        with pytest.raises(ValueError, match="http or https"):
            downloads.fetch("file:///etc/passwd", tmp_path / "f", "a" * 64)
        assert leftovers(tmp_path) == []


# ------------------------------------------------------------ zoo weights
SHIPPED = "dcgan_mnist"
NAME = "downloads_test_dcgan"


@pytest.fixture
def remote_entry(tmp_path, monkeypatch):
    """A copy of a small shipped entry in a temporary zoo folder without its
    weights, a fresh cache, and the shipped weights' bytes."""
    shipped = zoo.get(SHIPPED)
    with open(shipped.weights_path, "rb") as f:
        weights = f.read()
    folder = tmp_path / "zoo" / NAME
    folder.mkdir(parents=True)
    fields = dict(shipped.to_json(), name=NAME, directory=str(folder))
    entry = zoo.register(zoo.ZooEntry(**fields), overwrite=True)
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TFGEN_WEIGHTS_URL", raising=False)
    monkeypatch.delenv("TFGEN_ZOO_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # user_dir()
    yield entry, weights
    zoo._REGISTRY.pop(NAME, None)


class TestZooWeights:
    def test_downloaded_into_the_cache_once(self, server, remote_entry, monkeypatch):
        entry, weights = remote_entry
        server.serve(f"/zoo/{NAME}/model.weights.h5", weights)
        monkeypatch.setenv("TFGEN_WEIGHTS_URL", server.url + "/zoo/")
        model = zoo.load(NAME)
        np.testing.assert_array_equal(
            model.sample(2, seed=0), zoo.load(SHIPPED).sample(2, seed=0)
        )
        cached = os.path.join(
            os.environ["TFGEN_CACHE_DIR"],
            "zoo",
            NAME,
            entry.sha256[:16] + "-model.weights.h5",
        )
        assert files.sha256(cached) == entry.sha256
        zoo.load(NAME)
        assert server.requests == [f"/zoo/{NAME}/model.weights.h5"]

    def test_the_entry_url_wins(self, server, remote_entry, monkeypatch):
        entry, weights = remote_entry
        server.serve("/elsewhere.h5", weights)
        monkeypatch.setenv("TFGEN_WEIGHTS_URL", server.url + "/zoo")
        entry.url = server.url + "/elsewhere.h5"
        zoo.load(NAME)
        assert server.requests == ["/elsewhere.h5"]

    def test_a_local_zoo_folder_comes_first(
        self, server, remote_entry, tmp_path, monkeypatch
    ):
        entry, weights = remote_entry
        local = tmp_path / "my_zoo" / NAME
        local.mkdir(parents=True)
        (local / "model.weights.h5").write_bytes(weights)
        monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "my_zoo"))
        monkeypatch.setenv("TFGEN_WEIGHTS_URL", server.url)
        zoo.load(NAME)
        assert server.requests == []

    def test_wrong_hash(self, server, remote_entry, monkeypatch):
        _, weights = remote_entry
        server.serve(
            f"/{NAME}/model.weights.h5", weights[:-1] + bytes([weights[-1] ^ 1])
        )
        monkeypatch.setenv("TFGEN_WEIGHTS_URL", server.url)
        with pytest.raises(files.ChecksumError, match="wrong sha256"):
            zoo.load(NAME)
        assert leftovers(os.environ["TFGEN_CACHE_DIR"]) == []

    def test_interrupted(self, server, remote_entry, monkeypatch):
        _, weights = remote_entry
        server.serve(f"/{NAME}/model.weights.h5", weights, mode="short")
        monkeypatch.setenv("TFGEN_WEIGHTS_URL", server.url)
        with pytest.raises(downloads.DownloadError, match="cut short"):
            zoo.load(NAME)
        assert leftovers(os.environ["TFGEN_CACHE_DIR"]) == []

    def test_offline(self, closed_port_url, remote_entry, monkeypatch):
        entry, _ = remote_entry
        monkeypatch.setenv("TFGEN_WEIGHTS_URL", closed_port_url)
        with pytest.raises(downloads.DownloadError) as info:
            zoo.load(NAME)
        message = str(info.value)
        assert "may be offline" in message and "Without network access" in message
        # It names your zoo folder, never the entry's (the installed package's).
        mine = os.path.join(zoo.user_dir(), NAME, entry.weights)
        assert mine in message and "$TFGEN_ZOO_DIR" in message
        assert entry.weights_path not in message

    def test_no_url_says_how_to_get_the_weights(self, remote_entry):
        entry, _ = remote_entry
        with pytest.raises(FileNotFoundError) as info:
            zoo.load(NAME)
        message = str(info.value)
        assert "no download URL is known" in message and entry.sha256 in message
        assert "$TFGEN_WEIGHTS_URL" in message and "$TFGEN_ZOO_DIR" in message
        assert entry.training["command"] in message


# ------------------------------------------------------- FID weights
FID_FILE = os.path.basename(inception.FID_WEIGHTS_URL)


@pytest.fixture
def fid_remote(tmp_path, monkeypatch):
    """`publish(root)`: a stand-in for pytorch-fid's file, its URL pointed
    at `root` and its recorded digest prefix at the stand-in's; a fresh
    cache and no $TFGEN_FID_WEIGHTS. Returns the stand-in's bytes."""
    body = b"not really Inception weights " * 100
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TFGEN_FID_WEIGHTS", raising=False)
    monkeypatch.setattr(inception, "FID_WEIGHTS_SHA256_PREFIX", digest(body)[:8])

    def publish(root):
        monkeypatch.setattr(inception, "FID_WEIGHTS_URL", f"{root}/fid/{FID_FILE}")
        return body

    return publish


def fid_cache_path():
    return os.path.join(os.environ["TFGEN_CACHE_DIR"], "downloads", FID_FILE)


class TestFIDWeights:
    def test_downloaded_into_the_cache_once(self, server, fid_remote):
        body = fid_remote(server.url)
        server.serve(f"/fid/{FID_FILE}", body)
        path = inception.resolve_weights()
        assert path == fid_cache_path() and open(path, "rb").read() == body
        # Found in the cache next time; a full sha256 given is checked too.
        assert inception.resolve_weights(sha256=digest(body)) == path
        assert server.requests == [f"/fid/{FID_FILE}"]

    def test_wrong_hash(self, server, fid_remote):
        body = fid_remote(server.url)
        server.serve(f"/fid/{FID_FILE}", body[::-1])
        with pytest.raises(files.ChecksumError, match="wrong sha256") as info:
            inception.resolve_weights()
        assert f"Expected: {digest(body)[:8]}..." in str(info.value)
        assert leftovers(os.environ["TFGEN_CACHE_DIR"]) == []

    def test_interrupted(self, server, fid_remote):
        body = fid_remote(server.url)
        server.serve(f"/fid/{FID_FILE}", body, mode="short")
        with pytest.raises(downloads.DownloadError, match="cut short"):
            inception.resolve_weights()
        assert leftovers(os.environ["TFGEN_CACHE_DIR"]) == []

    def test_offline_says_what_to_do(self, closed_port_url, fid_remote):
        fid_remote(closed_port_url)
        with pytest.raises(downloads.DownloadError) as info:
            inception.load_fid_inception()
        message = str(info.value)
        assert "may be offline" in message and "Without network access" in message
        assert fid_cache_path() in message and "$TFGEN_FID_WEIGHTS" in message
        assert leftovers(os.environ["TFGEN_CACHE_DIR"]) == []

    def test_a_prefix_is_accepted_only_when_asked(self, server, tmp_path):
        body = b"x" * 10
        server.serve("/f.bin", body)
        url = server.url + "/f.bin"
        with pytest.raises(ValueError, match="full sha256"):
            downloads.fetch(url, tmp_path / "f", digest(body)[:8])
        with pytest.raises(ValueError, match="at least 8 hex digits"):
            downloads.fetch(url, tmp_path / "f", digest(body)[:7], prefix=True)
        path = downloads.fetch(url, tmp_path / "f", digest(body)[:8], prefix=True)
        assert open(path, "rb").read() == body


# ------------------------------------------------------------- datasets
def idx_gz(array):
    header = bytes((0, 0, 8, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def tar_gz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


def amat(x):
    rows = [" ".join(str(v) for v in image.ravel()) for image in x]
    return ("\n".join(rows) + "\n").encode()


def synthetic(name, rng, cifar_format="binary"):
    """(arrays as the .npz must hold them, {source file: bytes}) of a tiny
    stand-in in the dataset's canonical format."""
    if name in ("mnist", "fashion_mnist"):
        arrays = {
            "x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
        }
        sources = {}
        for split, prefix in (("train", "train"), ("test", "t10k")):
            sources[f"{prefix}-images-idx3-ubyte.gz"] = idx_gz(arrays[f"x_{split}"])
            sources[f"{prefix}-labels-idx1-ubyte.gz"] = idx_gz(arrays[f"y_{split}"])
        return arrays, sources
    if name == "cifar10":
        batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        x = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, 12, dtype=np.uint8)
        planar = x.transpose(0, 3, 1, 2).reshape(12, -1)  # the files' layout
        members = {}
        for i, batch in enumerate(batches):
            rows = slice(2 * i, 2 * i + 2)
            if cifar_format == "binary":
                records = np.concatenate([y[rows, None], planar[rows]], axis=1)
                members[f"cifar-10-batches-bin/{batch}.bin"] = records.tobytes()
            else:
                members[f"cifar-10-batches-py/{batch}"] = pickle.dumps(
                    {
                        b"batch_label": batch.encode(),
                        b"labels": [int(v) for v in y[rows]],
                        b"data": np.ascontiguousarray(planar[rows]),
                        b"filenames": [b"a.png", b"b.png"],
                    },
                    protocol=3,
                )
        arrays = {
            "x_train": x[:10],
            "y_train": y[:10],
            "x_test": x[10:],
            "y_test": y[10:],
        }
        archive = f"cifar-10-{cifar_format}.tar.gz"
        return arrays, {archive: tar_gz(members)}
    arrays = {
        f"x_{split}": rng.integers(0, 2, (n, 28, 28), dtype=np.uint8)
        for split, n in (("train", 4), ("valid", 2), ("test", 2))
    }
    return arrays, {
        f"binarized_mnist_{split}.amat": amat(arrays[f"x_{split}"])
        for split in ("train", "valid", "test")
    }


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """`make(name)`: tiny source files whose sizes, sha256s and converted
    arrays are recorded in place of the real ones."""
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(data.DATA_URL_ENV, raising=False)

    def make(name, **kwargs):
        arrays, sources = synthetic(name, np.random.default_rng(0), **kwargs)
        monkeypatch.setitem(
            data.SOURCES,
            name,
            (
                "http://never.invalid/",
                {f: (len(b), digest(b)) for f, b in sources.items()},
            ),
        )
        monkeypatch.setitem(
            data.ARRAY_SHA256, name, {k: digest(a.tobytes()) for k, a in arrays.items()}
        )
        return arrays, sources

    return make


def check_npz(name, folder, arrays):
    with np.load(os.path.join(folder, f"{name}.npz")) as npz:
        assert sorted(npz.files) == sorted(arrays)
        for key, array in arrays.items():
            np.testing.assert_array_equal(npz[key], array)
            assert npz[key].dtype == np.uint8
    for split in data.DATASETS[name][1]:
        x, y = data.load_arrays(name, split, data_dir=folder)
        assert x.shape == (len(arrays[f"x_{split}"]), *data.DATASETS[name][3])
        if y is not None:
            np.testing.assert_array_equal(y, arrays[f"y_{split}"])


class TestDataDownload:
    @pytest.mark.parametrize("name", sorted(data.DATASETS))
    def test_download_writes_the_npz(self, name, server, stand_in, tmp_path):
        arrays, sources = stand_in(name)
        for file, blob in sources.items():
            server.serve(f"/mirror/{file}", blob)
        out = str(tmp_path / "data")
        argv = ["data", "download", name, "--data-dir", out]
        assert cli.main([*argv, "--base-url", server.url + "/mirror"]) == 0
        check_npz(name, out, arrays)
        batch = next(iter(data.load(name, data_dir=out, batch_size=2)))
        assert batch.shape == (2, *data.DATASETS[name][3])
        # A second run refuses to replace the file, and with --overwrite
        # fetches nothing already whole in the cache.
        assert cli.main([*argv, "--base-url", server.url]) == 1
        requests = len(server.requests)
        assert cli.main([*argv, "--overwrite", "--base-url", server.url]) == 0
        assert len(server.requests) == requests

    def test_load_with_download_uses_the_env_mirror(
        self, server, stand_in, tmp_path, monkeypatch
    ):
        arrays, sources = stand_in("binarized_mnist")
        for file, blob in sources.items():
            server.serve(f"/{file}", blob)
        monkeypatch.setenv(data.DATA_URL_ENV, server.url)
        x, _ = data.load_arrays(
            "binarized_mnist",
            "valid",
            data_dir=str(tmp_path / "d"),
            download=True,
            tfds_data_dir=str(tmp_path / "tfds"),
        )
        np.testing.assert_array_equal(x[..., 0], arrays["x_valid"])

    def test_wrong_hash(self, server, stand_in, tmp_path, capsys):
        _, sources = stand_in("mnist")
        for file, blob in sources.items():
            server.serve(f"/{file}", blob)
        server.serve(
            "/t10k-labels-idx1-ubyte.gz",
            b"\1" * len(sources["t10k-labels-idx1-ubyte.gz"]),
        )
        out = tmp_path / "data"
        argv = [
            "data",
            "download",
            "mnist",
            "--data-dir",
            str(out),
            "--base-url",
            server.url,
        ]
        assert cli.main(argv) == 1
        assert "wrong sha256" in capsys.readouterr().err
        assert not out.exists()
        assert "t10k-labels-idx1-ubyte.gz" not in leftovers(tmp_path / "cache")

    def test_interrupted(self, server, stand_in, tmp_path, capsys):
        _, sources = stand_in("cifar10")
        ((file, blob),) = sources.items()
        server.serve(f"/{file}", blob, mode="short")
        out = tmp_path / "data"
        argv = [
            "data",
            "download",
            "cifar10",
            "--data-dir",
            str(out),
            "--base-url",
            server.url,
        ]
        assert cli.main(argv) == 1
        assert "cut short" in capsys.readouterr().err
        assert not out.exists() and leftovers(tmp_path / "cache") == []

    def test_offline(self, closed_port_url, stand_in, tmp_path, capsys):
        stand_in("fashion_mnist")
        argv = ["data", "download", "fashion_mnist", "--data-dir", str(tmp_path / "d")]
        assert cli.main([*argv, "--base-url", closed_port_url]) == 1
        err = capsys.readouterr().err
        assert "may be offline" in err
        assert "tfgen data prepare fashion_mnist --from FOLDER" in err
        assert "--base-url" in err

    def test_unknown_dataset_is_a_usage_error(self, capsys):
        assert cli.main(["data", "download", "imagenet"]) == 2
        assert "Expected one of" in capsys.readouterr().err


class TestDataPrepare:
    @pytest.mark.parametrize(
        "name,kwargs",
        [
            ("mnist", {}),
            ("cifar10", {}),
            ("cifar10", {"cifar_format": "python"}),
            ("binarized_mnist", {}),
        ],
    )
    def test_prepare_from_files_at_hand(self, name, kwargs, stand_in, tmp_path):
        arrays, sources = stand_in(name, **kwargs)
        src = tmp_path / "src"
        src.mkdir()
        for file, blob in sources.items():
            (src / file).write_bytes(blob)
        out = str(tmp_path / "data")
        assert (
            cli.main(["data", "prepare", name, "--from", str(src), "--data-dir", out])
            == 0
        )
        check_npz(name, out, arrays)

    def test_unpacked_files_are_accepted(self, stand_in, tmp_path):
        arrays, sources = stand_in("fashion_mnist")
        for file, blob in sources.items():
            (tmp_path / file[: -len(".gz")]).write_bytes(gzip.decompress(blob))
        out = str(tmp_path / "data")
        data.prepare("fashion_mnist", tmp_path, data_dir=out)
        check_npz("fashion_mnist", out, arrays)

    def test_arrays_other_than_the_reference_are_refused(
        self, stand_in, tmp_path, monkeypatch
    ):
        _, sources = stand_in("mnist")
        for file, blob in sources.items():
            (tmp_path / file).write_bytes(blob)
        monkeypatch.setitem(data.ARRAY_SHA256["mnist"], "y_test", "0" * 64)
        monkeypatch.setitem(data.SOURCES, "mnist", ("", {}))  # skip the file check
        with pytest.raises(files.ChecksumError, match="y_test array.*Expected: 0000"):
            data.prepare("mnist", tmp_path, data_dir=tmp_path / "out")
        assert not (tmp_path / "out" / "mnist.npz").exists()

    def test_missing_sources_are_named(self, stand_in, tmp_path, capsys):
        stand_in("binarized_mnist")
        argv = ["data", "prepare", "binarized_mnist", "--from", str(tmp_path)]
        assert cli.main([*argv, "--data-dir", str(tmp_path / "d")]) == 1
        assert "binarized_mnist_train.amat" in capsys.readouterr().err


class TestForgedSources:
    """Untrusted files: bounded reads, no code from pickles."""

    def test_idx_header_claiming_more_images_is_refused(self, stand_in, tmp_path):
        _, sources = stand_in("mnist")
        for file, blob in sources.items():
            (tmp_path / file).write_bytes(blob)
        # The header claims 10^9 images; the body holds none.
        (tmp_path / "train-images-idx3-ubyte.gz").unlink()
        forged = bytes((0, 0, 8, 3)) + struct.pack(">3I", 10**9, 28, 28)
        (tmp_path / "train-images-idx3-ubyte").write_bytes(forged)
        with pytest.raises(ValueError, match=r"dimensions \(1000000000, 28, 28\)"):
            data.prepare("mnist", tmp_path, data_dir=tmp_path / "out")

    def test_pickle_with_a_foreign_global_is_refused(self, stand_in, tmp_path):
        stand_in("cifar10")  # records the binary archive: this one is unchecked
        evil = pickle.dumps(os.getcwd)  # any callable outside the batch layout
        members = {
            f"cifar-10-batches-py/{b}": evil
            for b in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        }
        (tmp_path / "cifar-10-python.tar.gz").write_bytes(tar_gz(members))
        with pytest.raises(ValueError, match="refused global posix.getcwd"):
            data.prepare("cifar10", tmp_path, data_dir=tmp_path / "out")

    def test_oversized_archive_member_is_refused(self, stand_in, tmp_path):
        stand_in("cifar10")
        big = {"cifar-10-batches-bin/data_batch_1.bin": b"\0" * (2 * 10000 * 3073 + 1)}
        (tmp_path / "cifar-10-binary.tar.gz").write_bytes(tar_gz(big))
        data.SOURCES["cifar10"][1].clear()
        with pytest.raises(ValueError, match="at most 61,460,000 bytes"):
            data.prepare("cifar10", tmp_path, data_dir=tmp_path / "out")
