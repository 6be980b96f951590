"""benchmarks/modify.py end to end on tiny untrained models and fake MNIST:
its section of MODIFY.md, the numbers' ranges, and the IWAE bound line."""

import re

import benchmark_scripts
import numpy as np

import tfgen
from tfgen import zoo


def test_modify_benchmark_writes_its_section(tmp_path):
    # Every class in both splits (the attribute vectors need each class).
    rng = np.random.default_rng(0)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    np.savez(
        data_dir / "mnist.npz",
        x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        y_train=(np.arange(40) % 10).astype(np.uint8),
        x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_test=(np.arange(20) % 10).astype(np.uint8),
    )
    cvae = tfgen.CVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    vae = tfgen.VAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    zoo.save(cvae, str(tmp_path / "cvae"))
    zoo.save(vae, str(tmp_path / "vae"))
    output = tmp_path / "MODIFY.md"
    output.write_text("# Mine\n\nkept\n")
    script = benchmark_scripts.load("modify")
    argv = ["--cvae", str(tmp_path / "cvae"), "--vae", str(tmp_path / "vae")]
    argv += ["--num-images", "20", "--vector-images", "10000", "--pairs", "30"]
    argv += ["--nll-images", "3", "--num-samples", "2", "--strengths", "1,2"]
    argv += ["--data-dir", str(data_dir), "--output", str(output)]
    assert benchmark_scripts.run(script, argv) == 0
    text = output.read_text()
    assert text.startswith("# Mine\n\nkept\n") and "<!-- modify:start -->" in text
    rows = re.findall(
        r"^\| `[^`]+` \| (transfer|attribute, strength \d) \| 180 \|", text, re.M
    )
    assert rows == ["transfer", "attribute, strength 1", "attribute, strength 2"]
    assert "-log p(x|y) = " in text and "3 evenly spaced test digits" in text
    # Every percentage is a fraction of the edits.
    assert all(0 <= float(p) <= 100 for p in re.findall(r"([\d.]+)%", text))
