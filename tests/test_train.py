"""The training loop: losses, determinism, resume after SIGKILL, non-finite steps, DDP sync.

All runs use the tiny configs on CPU with one thread, so losses are bit-reproducible.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from experiments.config import Config, load_config
from experiments.data import get_encoding
from experiments.token_loss import seq2seq_loss, teacher_forcing_batch
from experiments.train import (
    CheckpointError,
    NonFiniteLossError,
    RunFolderError,
    load_checkpoint,
    mlp_loss,
    read_metrics,
    train,
)

REPO = Path(__file__).resolve().parent.parent


def _train_losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run_dir) if r["kind"] == "train"}


def test_mlp_loss_is_mean_relative_l1():
    # Two matrices (flattened): errors 0.1 of ||F||_1 = 2 and 0.5 of ||F||_1 = 4.
    F = torch.tensor([[1.0, -1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 2.0]])
    P = torch.tensor([[1.1, -1.1, 0.0, 0.0], [2.0, 0.5, -0.5, 3.0]])
    assert float(mlp_loss(P, F)) == pytest.approx(0.5 * (0.2 / 2 + 2.0 / 4))


def test_teacher_forcing_shifts_by_one_token():
    enc = get_encoding("P1000")
    A = torch.tensor([[[0.5, -1.25], [3.0, 0.001]]], dtype=torch.float64)
    F = torch.tensor([[[1.0, 2.0], [-7.5, 0.25]]], dtype=torch.float64)
    src, tgt_in, tgt_out = teacher_forcing_batch(enc, A, F)
    ids = [enc.token_to_id[t] for t in enc.encode(F[0])]
    T = enc.sequence_length(2, 2)
    assert src[0].tolist() == [enc.token_to_id[t] for t in enc.encode(A[0])]
    assert tgt_in[0].tolist() == [enc.bos_id] + ids and tgt_out[0].tolist() == ids + [enc.eos_id]
    assert tgt_in.shape == tgt_out.shape == (1, T + 1)
    # The loss ignores PAD: padding a position leaves the mean over the others unchanged.
    logits = torch.randn(1, T + 1, len(enc.vocab))
    padded = tgt_out.clone()
    padded[0, -1] = enc.pad_id
    ce = torch.nn.functional.cross_entropy(logits[0, :-1], tgt_out[0, :-1])
    assert float(seq2seq_loss(logits, padded, enc.pad_id)) == pytest.approx(float(ce))


@pytest.mark.parametrize("name", ["tiny-mlp", "tiny-transformer"])
def test_same_seed_same_losses_first_50_steps(tmp_path, name):
    cfg = load_config(name, ["steps=50", "eval_every=50", "checkpoint_every=50", "threads=1"])
    a = train(cfg, tmp_path / "a", quiet=True)
    b = train(cfg, tmp_path / "b", quiet=True)
    assert len(a.losses) == 50
    assert a.losses == b.losses
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in a.losses)
    c = train(load_config(name, ["steps=50", "seed=1", "threads=1"]), tmp_path / "c", quiet=True)
    assert c.losses != a.losses  # the seed matters, so the equality above is not vacuous


def test_run_folder_contents(tmp_path):
    cfg = load_config("tiny-mlp", ["threads=1"])
    res = train(cfg, tmp_path / "run", quiet=True)
    run = tmp_path / "run"
    assert Config.from_dict(json.loads((run / "config.json").read_text())) == cfg
    rows = read_metrics(run)
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == list(range(1, 61))
    for key in ("loss", "lr", "examples_per_s", "tokens_per_s", "elapsed_s"):
        assert key in train_rows[0]
    evals = [r["step"] for r in rows if r["kind"] == "eval"]
    assert evals == [20, 40, 60]
    results = json.loads((run / "results.json").read_text())
    rec = results["record"]
    assert rec["torch"] == torch.__version__ and rec["seed"] == 0 and rec["wall_time_s"] > 0
    assert rec["device"] == "cpu" and rec["device_name"] and len(rec["git_commit"] or "x" * 40) == 40
    assert results["steps"] == 60 and results["status"] == "finished"
    assert results["final"]["l1"]["n"] == 64 and set(results["final"]) == {"l1", "fro", "max"}
    assert res.final == results["final"]["l1"]
    ckpt = load_checkpoint(run)
    assert ckpt["step"] == 60 and ckpt["finished"]
    # The warmup and cosine schedule is what was logged.
    assert train_rows[0]["lr"] == pytest.approx(cfg.train.lr_at(0))
    assert train_rows[-1]["lr"] == pytest.approx(cfg.train.lr_at(59))


def test_new_run_refuses_existing_folder(tmp_path):
    cfg = load_config("tiny-mlp", ["steps=3", "threads=1"])
    train(cfg, tmp_path / "run", quiet=True)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(RunFolderError, match="already holds a run.*--resume"):
        train(cfg, tmp_path / "run", quiet=True)
    after = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    assert before == after


def test_resume_of_finished_run_does_nothing(tmp_path):
    cfg = load_config("tiny-mlp", ["steps=5", "threads=1"])
    train(cfg, tmp_path / "run", quiet=True)
    res = train(cfg, tmp_path / "run", resume=True, quiet=True)
    assert res.stopped_by == "already_finished" and res.step == 5


def test_resume_rejects_missing_and_corrupt_checkpoints(tmp_path):
    cfg = load_config("tiny-mlp", ["steps=5", "threads=1"])
    with pytest.raises(CheckpointError, match="no checkpoint.pt"):
        train(cfg, tmp_path / "empty", resume=True, quiet=True)
    train(cfg, tmp_path / "run", quiet=True)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        train(cfg, tmp_path / "run", resume=True, quiet=True)
    ckpt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "run")


def test_isolated_nonfinite_steps_are_skipped_and_counted(tmp_path, monkeypatch):
    import experiments.train as train_mod

    calls = {"n": 0}
    real = train_mod.mlp_loss

    def flaky(pred, F):
        calls["n"] += 1
        loss = real(pred, F)
        return loss * float("nan") if calls["n"] in (3, 7, 8) else loss

    monkeypatch.setattr(train_mod, "mlp_loss", flaky)
    cfg = load_config("tiny-mlp", ["steps=12", "max_nonfinite=3", "threads=1"])
    res = train(cfg, tmp_path / "run", quiet=True)
    assert res.step == 12 and res.nonfinite_steps == 3
    losses = dict(res.losses)
    assert all(losses[s] != losses[s] for s in (3, 7, 8))  # logged as NaN (nothing finite)
    assert all(losses[s] == losses[s] for s in (1, 2, 4, 5, 6, 9, 10, 11, 12))


def test_blow_up_stops_after_max_nonfinite_in_a_row(tmp_path):
    # lr = 1e30 drives the weights to ~1e30 after one AdamW step, the outputs to inf/nan and
    # from then on every loss is non-finite: training must stop with a clear message.
    cfg = load_config("tiny-mlp", ["lr=1e30", "warmup=0", "grad_clip=1e30", "max_nonfinite=4", "threads=1"])
    with pytest.raises(NonFiniteLossError, match="not finite for 4 steps in a row.*smaller lr"):
        train(cfg, tmp_path / "run", quiet=True)


def test_wall_clock_budget_stops_and_decays(tmp_path):
    cfg = load_config(
        "tiny-mlp",
        ["steps=1000000", "max_minutes=0.01", "decay_over=time", "warmup=0", "threads=1"],
    )
    res = train(cfg, tmp_path / "run", quiet=True)
    assert res.stopped_by == "time" and 0 < res.step < 10**6
    rows = [r for r in read_metrics(tmp_path / "run") if r["kind"] == "train"]
    lrs = [r["lr"] for r in rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.5 * cfg.train.lr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["stopped_by"] == "time" and results["steps"] == res.step


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, cfg_dict, out, dump):
    import torch.distributed as dist

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    res = train(Config.from_dict(cfg_dict), out, quiet=True)
    params = [p.detach().clone() for p in res.model.parameters()]
    torch.save({"params": params, "losses": res.losses}, os.path.join(dump, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_ranks_gloo_stay_in_sync(tmp_path):
    cfg = load_config("tiny-mlp", ["steps=8", "eval_every=4", "checkpoint_every=4"])
    torch.multiprocessing.spawn(
        _ddp_worker,
        args=(2, _free_port(), cfg.to_dict(), str(tmp_path / "run"), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for a, b in zip(r0["params"], r1["params"], strict=True):
        assert torch.equal(a, b)
    # Per-rank data seeds: the same weights see different batches, so step-1 losses differ.
    assert r0["losses"][0][1] != r1["losses"][0][1]
    torch.manual_seed(cfg.train.seed)
    init = load_config("tiny-mlp")  # same architecture; weights must have moved
    from experiments.train import build_model

    assert not torch.equal(next(build_model(init).parameters()), r0["params"][0])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["record"]["world_size"] == 2 and results["examples_seen"] == 8 * 16 * 2
    assert len(load_checkpoint(tmp_path / "run")["ranks"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("objective", [[], ["scheduled_sampling=0.5", "mantissa_loss=2"]])
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, objective):
    # The second case draws scheduled sampling's replacements from the RNG state the checkpoint saves.
    overrides = ["steps=200", "checkpoint_every=10", "eval_every=50", "threads=1", *objective]
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "experiments", "train", "--config", "tiny-transformer"]
    cmd += [a for o in overrides for a in ("--set", o)] + ["--out", str(run), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (run / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.005)
    time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    ckpt_step = load_checkpoint(run)["step"]
    assert ckpt_step % 10 == 0 and 10 <= ckpt_step < 200
    assert not (run / "results.json").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "experiments", "train", "--resume", str(run), "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "results.json").read_text())["steps"] == 200
    steps = [r["step"] for r in read_metrics(run) if r["kind"] == "train"]
    assert steps == list(range(1, 201))  # each step logged exactly once

    reference = train(load_config("tiny-transformer", overrides), tmp_path / "ref", quiet=True)
    assert _train_losses(run) == dict(reference.losses)
    again = subprocess.run(
        [sys.executable, "-m", "experiments", "train", "--resume", str(run), "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "already finished" in again.stdout


def test_finished_checkpoint_without_results_writes_them(tmp_path):
    # SIGKILL between the final checkpoint and results.json: resume only does the final part.
    cfg = load_config("tiny-mlp", ["steps=6", "threads=1"])
    first = train(cfg, tmp_path / "run", quiet=True)
    (tmp_path / "run" / "results.json").unlink()
    again = train(cfg, tmp_path / "run", resume=True, quiet=True)
    assert again.step == 6 and again.stopped_by == "steps" and again.losses == []
    assert again.final == first.final
    assert json.loads((tmp_path / "run" / "results.json").read_text())["steps"] == 6
    assert sum(bool(r.get("final")) for r in read_metrics(tmp_path / "run")) == 1


def test_blow_up_message_says_whether_a_checkpoint_is_kept(tmp_path, monkeypatch):
    import experiments.train as train_mod

    # Before the first checkpoint: nothing is kept, and the message must not claim otherwise.
    cfg = load_config("tiny-mlp", ["lr=1e30", "warmup=0", "grad_clip=1e30", "max_nonfinite=4", "threads=1"])
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written yet") as err:
        train(cfg, tmp_path / "early", quiet=True)
    assert "is kept" not in str(err.value)
    assert not (tmp_path / "early" / "checkpoint.pt").exists()

    # Losses non-finite from step 6 on, checkpoints every 4 steps: the one of step 4 is kept.
    calls = {"n": 0}
    real = train_mod.mlp_loss

    def late_nan(pred, F):
        calls["n"] += 1
        loss = real(pred, F)
        return loss * float("nan") if calls["n"] >= 6 else loss

    monkeypatch.setattr(train_mod, "mlp_loss", late_nan)
    cfg = load_config("tiny-mlp", ["checkpoint_every=4", "max_nonfinite=3", "threads=1"])
    with pytest.raises(NonFiniteLossError, match=r"steps 6\.\.8.*the checkpoint of step 4 is kept"):
        train(cfg, tmp_path / "late", quiet=True)
    assert load_checkpoint(tmp_path / "late")["step"] == 4


def test_cpu_amp_trains_in_bf16_deterministically(tmp_path):
    # cpu_amp runs the forward under CPU bf16 autocast: finite losses, the same seed gives the
    # same losses, and they differ from float32's (so the flag reaches the forward).
    sets = ["steps=20", "eval_every=20", "checkpoint_every=20", "threads=1"]
    a = train(load_config("tiny-transformer", [*sets, "cpu_amp=true"]), tmp_path / "a", quiet=True)
    b = train(load_config("tiny-transformer", [*sets, "cpu_amp=true"]), tmp_path / "b", quiet=True)
    f = train(load_config("tiny-transformer", sets), tmp_path / "f", quiet=True)
    assert a.losses == b.losses and all(torch.isfinite(torch.tensor(x)) for _, x in a.losses)
    assert a.losses != f.losses
    assert json.loads((tmp_path / "a" / "config.json").read_text())["train"]["cpu_amp"] is True


def test_checkpoint_from_before_a_config_field_resumes(tmp_path):
    # A checkpoint written by code that did not know cpu_amp yet (its config lacks the key, which
    # then takes its default) is the same config and resumes.
    cfg = load_config("tiny-mlp", ["steps=10", "checkpoint_every=5", "threads=1"])
    res = train(
        load_config("tiny-mlp", ["steps=10", "checkpoint_every=5", "threads=1"]), tmp_path / "r", quiet=True
    )
    assert res.step == 10
    path = tmp_path / "r" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=False)
    del ckpt["config"]["train"]["cpu_amp"]
    ckpt["step"] = 5
    torch.save(ckpt, path)
    (tmp_path / "r" / "results.json").unlink()
    resumed = train(cfg, tmp_path / "r", resume=True, quiet=True)
    assert resumed.step == 10


def test_curriculum_trains_on_scaled_matrices_and_their_own_targets(tmp_path, monkeypatch):
    """Each step's batch is s(t) A_t with targets sinm(s(t) A_t) (scipy), A_t the stream's draw."""
    import numpy as np
    import scipy.linalg

    import experiments.data.sampling as sampling
    import experiments.train as train_mod

    drawn, seen = [], []
    next_batch, forward_loss = sampling.MatrixStream.__next__, train_mod._forward_loss

    def record_draw(self):
        batch = next_batch(self)
        drawn.append(batch.A.clone())
        return batch

    def record_loss(s, A, F):
        seen.append((A.clone(), F.clone()))
        return forward_loss(s, A, F)

    monkeypatch.setattr(sampling.MatrixStream, "__next__", record_draw)
    monkeypatch.setattr(train_mod, "_forward_loss", record_loss)
    overrides = ["function=sin", "steps=12", "curriculum_steps=8", "curriculum_start=0.25", "threads=1"]
    train(load_config("tiny-mlp", overrides), tmp_path / "run", quiet=True)
    assert len(seen) == len(drawn) == 12
    for t, (A0, (A, F)) in enumerate(zip(drawn, seen, strict=True)):
        s = 0.25 + 0.75 * t / 8 if t < 8 else 1.0
        torch.testing.assert_close(A, s * A0, rtol=1e-15, atol=0)
        ref = np.stack([scipy.linalg.sinm(a) for a in (s * A0).numpy()])
        np.testing.assert_allclose(F.numpy(), ref, rtol=1e-9, atol=1e-12)
