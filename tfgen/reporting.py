"""Provenance of measured numbers: the hardware they came from, and the
marked sections of Markdown files (README, RESULTS.md) that scripts rewrite."""

import json
import os
import platform

__all__ = [
    "cpu_flags",
    "cpu_model",
    "cpu_vector_summary",
    "hardware_summary",
    "replace_metrics",
    "write_section",
]


def cpu_model():
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    """The CPU's feature flags (`avx2`, `avx512_bf16`, `amx_bf16`, ...), from
    /proc/cpuinfo; empty where there is none."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_vector_summary(flags=None):
    """What the CPU computes natively, e.g. 'AVX-512, bf16' or 'AVX2, no
    bf16': the model name alone ('AMD EPYC') hides a 2-8x difference in
    bfloat16 training speed."""
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return "flags unknown"
    if "avx512f" in flags:
        vector = "AVX-512"
    elif "avx2" in flags:
        vector = "AVX2"
    else:
        vector = "no AVX2"
    if "amx_bf16" in flags:
        return f"{vector}, AMX bf16"
    if "avx512_bf16" in flags:
        return f"{vector}, bf16"
    return f"{vector}, no bf16"


def hardware_summary():
    """One line: core count, CPU model, its vector units and GPUs, e.g.
    '2 x AMD EPYC (AVX2, no bf16), no GPU'; a process pinned to fewer cores
    (taskset) says how many it could use."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    details = [cpu_vector_summary()]
    if usable < cores:
        details.append(f"{usable} of them used")
    return f"{cores} x {cpu_model()} ({'; '.join(details)})" + (
        f", GPUs: {gpus}" if gpus else ", no GPU"
    )


def write_section(path, section, start_mark, end_mark, header="# Benchmark results\n"):
    """Replaces the text between `start_mark` and `end_mark` in `path` (or
    appends the marked section, creating the file with `header`), keeping
    everything else."""
    block = f"{start_mark}\n{section.rstrip()}\n{end_mark}"
    if os.path.isfile(path):
        with open(path) as f:
            text = f.read()
    else:
        text = header
    start, end = text.find(start_mark), text.find(end_mark)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(end_mark) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _stamped(record, model_sha256):
    if not model_sha256:
        return record
    protocol = record.get("protocol")
    protocol = dict(protocol) if isinstance(protocol, dict) else {}
    return {**record, "protocol": {**protocol, "model_sha256": model_sha256}}


def _same_protocol(old, new):
    # Records of one metric under different protocols (FID-10k against the
    # test split, FID-50k against train) answer different questions: both
    # stay. A record whose protocol is not a dict cannot be told apart.
    if old.get("name") != new.get("name"):
        return False
    a, b = old.get("protocol"), new.get("protocol")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return True
    return all(a.get(k) == b.get(k) for k in ("reference", "n_gen"))


def replace_metrics(entry_path, records):
    """Writes metric records (dicts with a `name`) into a zoo `entry.json`,
    replacing older records of the same name and protocol (the same
    `protocol.reference` and `protocol.n_gen`, where present) and keeping
    the others. Each record's protocol gets the sha256 of the entry's
    weights (`model_sha256`), so a number names the weights it measured."""
    with open(entry_path) as f:
        data = json.load(f)
    records = [_stamped(record, data.get("sha256")) for record in records]
    kept = [
        m
        for m in data.get("metrics", [])
        if not any(_same_protocol(m, r) for r in records)
    ]
    data["metrics"] = kept + list(records)
    with open(entry_path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
