"""results/gpu/run.sh (the prepared GPU check) and its config, exercised on CPU (SMOKE=1)."""

import json
import math
import os
import subprocess
from pathlib import Path

from experiments.config import load_config

REPO = Path(__file__).resolve().parent.parent


def test_gpu_paper_config_has_the_authors_settings():
    """Facts from rahul3/LAWT src/neuralnet/scripts/run_lawt_job.sh (see the config's description)."""
    c = load_config("gpu-paper")
    assert (c.data.n, c.data.function, c.data.encoding, c.data.distribution) == (
        5,
        "exp",
        "B1999",
        "gaussian",
    )
    assert math.isclose(c.data.params["sigma"], 5 / math.sqrt(3), rel_tol=1e-15)
    assert (c.model.d_model, c.model.n_heads, c.model.enc_layers, c.model.dec_layers) == (512, 8, 8, 1)
    assert (c.train.batch_size, c.train.lr, c.train.warmup, c.train.schedule) == (64, 1e-4, 10000, "constant")
    assert c.train.grad_clip == 5.0 and c.train.amp and c.train.device == "cuda"


def test_run_sh_smoke_on_cpu_writes_a_run_record(tmp_path):
    env = dict(os.environ, SMOKE="1", OUT=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        ["bash", str(REPO / "results/gpu/run.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((tmp_path / "gpu-paper" / "results.json").read_text())
    assert res["status"] == "finished" and res["steps"] == 3 and res["n"] == 5
    assert "gpu-paper" in (tmp_path / "summary.md").read_text()
    assert not list(tmp_path.rglob("*.pt")), "checkpoints must stay out of $OUT (they would not come back)"


def test_run_sh_deadline_stops_the_whole_run(tmp_path):
    env = dict(os.environ, SMOKE="1", OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"), DEADLINE="2")
    proc = subprocess.run(
        ["bash", str(REPO / "results/gpu/run.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode != 0 and "deadline of 2s reached" in proc.stderr
    assert not (tmp_path / "out" / "gpu-paper" / "results.json").exists()


def test_run_sh_refuses_without_cuda(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        ["bash", str(REPO / "results/gpu/run.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode != 0 and "no CUDA device" in proc.stderr
    assert not (tmp_path / "gpu-paper").exists()
