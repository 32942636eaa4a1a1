"""CNNClassifier trained data-parallel over a real 2-worker Dask cluster (gloo on CPU):
one rank per worker, each on its own share of the samples; a worker lost mid-training
stops the fit with one clear error, and the rerun resumes from the checkpoint."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

pytest.importorskip("torch")
distributed = pytest.importorskip("distributed")

import scaleml  # noqa: E402
from scaleml import Scaled, explain  # noqa: E402
from scaleml.exceptions import TrainingInterruptedError  # noqa: E402
from scaleml.nn import CNNClassifier  # noqa: E402
from scaleml.nn.callbacks import Callback  # noqa: E402
from scaleml.planning import Route  # noqa: E402

pytestmark = pytest.mark.slow

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes under nannies (a killed worker is restarted)."""
    from scaleml.engines.dask.cluster import close_all

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local
        close_all(local.scheduler_address)  # scaleml's client to it goes first


def _rank_log(folder):
    """A callback (defined here, so it travels to the workers by value) that writes, per rank,
    its world size, process id and first epoch."""

    class RankLog(Callback):
        def __init__(self, folder):
            self.folder = folder

        def on_epoch_begin(self, training):
            path = os.path.join(self.folder, f"rank{training.rank}.json")
            if not os.path.exists(path):
                with open(path, "w") as handle:
                    json.dump({"world": training.world_size, "pid": os.getpid(), "first_epoch": training.epoch}, handle)

        def on_train_end(self, training):
            with open(os.path.join(self.folder, f"losses{training.rank}.json"), "w") as handle:
                json.dump([h["loss"] for h in training.history], handle)

    return RankLog(str(folder))


def _ranks(folder):
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("rank*.json"))}


def test_trains_one_rank_per_worker_as_accurately_as_one_process(cluster, tmp_path):
    params = {"image_shape": (8, 8), "epochs": 12, "batch_size": 64, "random_state": 0}
    alone = CNNClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    log = tmp_path / "ranks"
    log.mkdir()
    with scaleml.backend("dask", address=cluster.scheduler_address):
        spread = CNNClassifier(**params, callbacks=[_rank_log(log)]).fit(X_train, y_train)
    ranks = _ranks(log)
    with distributed.Client(cluster.scheduler_address) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert sorted(ranks) == ["rank0", "rank1"]
    assert {r["world"] for r in ranks.values()} == {2}
    assert {r["pid"] for r in ranks.values()} == worker_pids and os.getpid() not in worker_pids
    assert abs(spread.score(X_test, y_test) - alone) <= 0.02, (spread.score(X_test, y_test), alone)
    # Every rank records the same loss (over all ranks' samples), so callbacks decide alike.
    losses = [json.loads((log / f"losses{r}.json").read_text()) for r in (0, 1)]
    assert losses[0] == losses[1] == [h["loss"] for h in spread.history_]
    assert spread.n_epochs_ == 12 and len(spread.history_) == 12


def test_each_rank_reads_only_its_own_samples_and_the_plan_says_so(cluster, tmp_path):
    import torch

    reads = tmp_path / "reads"
    reads.mkdir()

    class CountingDataset(torch.utils.data.Dataset):
        def __init__(self, images, labels, folder):
            self.images, self.labels, self.folder = images, labels, folder

        def __len__(self):
            return len(self.images)

        def __getitem__(self, index):
            with open(os.path.join(self.folder, f"{os.getpid()}.txt"), "a") as handle:
                handle.write(f"{index}\n")
            return torch.from_numpy(self.images[index].reshape(1, 8, 8).astype(np.float32)), self.labels[index]

    dataset = CountingDataset(X_train[:200], y_train[:200], str(reads))
    # random_state=None: each rank would draw its own seed, and so its own shuffle; rank 0's is shared.
    model = Scaled(CNNClassifier(epochs=1, batch_size=20, random_state=None), backend="dask",
                   address=cluster.scheduler_address)
    planned = explain(model.estimator, backend="dask", X=dataset, address=cluster.scheduler_address)[0]
    model.fit(dataset, y_train[:200])
    assert model.plan_[0] == planned
    assert planned.route is Route.TORCH_DISTRIBUTED
    per_process = [set(map(int, p.read_text().split())) for p in reads.glob("*.txt")]
    read_here = reads / f"{os.getpid()}.txt"
    assert not read_here.exists()  # labels came from y: nothing was read in this process
    assert len(per_process) == 2
    # Each rank also reads sample 0 once, to learn the input shape.
    assert per_process[0] & per_process[1] == {0} and per_process[0] | per_process[1] == set(range(200))


def test_a_worker_lost_mid_training_fails_clearly_and_the_rerun_resumes(cluster, tmp_path):
    marker = tmp_path / "killed-once"
    checkpoints = tmp_path / "ckpt"

    class KillRankOneAtEpochThree(Callback):
        def __init__(self, marker):
            self.marker = marker

        def on_epoch_begin(self, training):
            if training.rank == 1 and training.epoch == 2 and not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies, as a lost node would

    log = tmp_path / "ranks"
    log.mkdir()
    # The same parameters (callbacks included) both times: a checkpoint resumes only the same fit.
    params = {"image_shape": (8, 8), "epochs": 5, "batch_size": 64, "random_state": 0,
              "checkpoint_dir": str(checkpoints), "callbacks": [KillRankOneAtEpochThree(str(marker)), _rank_log(log)]}
    with distributed.Client(cluster.scheduler_address) as client:
        with scaleml.backend("dask", address=cluster.scheduler_address):
            with pytest.raises(TrainingInterruptedError, match=r"was lost .* resumes from the checkpoint .*epoch 2 of 5"):
                CNNClassifier(**params).fit(X_train, y_train)
            assert {r["first_epoch"] for r in _ranks(log).values()} == {0}
            for written in log.glob("rank*.json"):
                written.unlink()
            client.wait_for_workers(2, timeout=60)  # the nanny restarted the worker
            model = CNNClassifier(**params).fit(X_train, y_train)
    assert {r["first_epoch"] for r in _ranks(log).values()} == {2}  # both ranks resumed after epoch 2
    assert model.n_epochs_ == 5 and [h["epoch"] for h in model.history_] == [1, 2, 3, 4, 5]
    assert model.score(X_test, y_test) > 0.8
    assert not (checkpoints / "checkpoint.pt").exists()


def test_gpus_are_shared_out_one_per_rank_or_not_at_all():
    import warnings

    from scaleml.exceptions import InvalidParameterError
    from scaleml.nn._dask_ddp import gpu_layout

    auto, cuda, cpu = CNNClassifier(), CNNClassifier(device="cuda"), CNNClassifier(device="cpu")
    two_nodes = ["tcp://10.0.0.1:1", "tcp://10.0.0.1:2", "tcp://10.0.0.2:1"]
    dask_cuda = {"tcp://10.0.0.1:1": (2, "0,1"), "tcp://10.0.0.1:2": (2, "1,0"), "tcp://10.0.0.2:1": (1, "0")}
    assert gpu_layout(auto, two_nodes, dask_cuda) == ("nccl", [0, 0, 0], None)
    plain = {"tcp://10.0.0.1:1": (2, None), "tcp://10.0.0.1:2": (2, None), "tcp://10.0.0.2:1": (1, None)}
    assert gpu_layout(auto, two_nodes, plain) == ("nccl", [0, 1, 0], None)
    one_gpu = {w: (1, None) for w in two_nodes}  # two workers on 10.0.0.1 would share its one GPU
    with pytest.warns(UserWarning, match="outnumber the GPUs"):
        assert gpu_layout(auto, two_nodes, one_gpu) == ("gloo", [0, 0, 0], "cpu")
    with pytest.raises(InvalidParameterError, match="one GPU per worker"):
        gpu_layout(cuda, two_nodes, one_gpu)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gpu_layout(cpu, two_nodes, plain) == ("gloo", [0, 0, 0], None)
        assert gpu_layout(auto, two_nodes, {w: (0, None) for w in two_nodes}) == ("gloo", [0, 0, 0], None)


def test_an_interrupted_client_stops_every_rank(cluster, tmp_path, monkeypatch):
    import scaleml.nn._dask_ddp as ddp

    started = tmp_path / "started"

    class Slow(Callback):
        def __init__(self, marker):
            self.marker = marker

        def on_batch_end(self, training):
            open(self.marker, "w").close()
            import time

            time.sleep(0.05)

    watch = ddp._watch

    def interrupted(client, futures, workers, estimator):
        import time

        while not started.exists():
            time.sleep(0.05)
        raise KeyboardInterrupt  # as Ctrl-C in the client while the ranks train

    monkeypatch.setattr(ddp, "_watch", interrupted)
    with scaleml.backend("dask", address=cluster.scheduler_address):
        with pytest.raises(KeyboardInterrupt):
            CNNClassifier(image_shape=(8, 8), epochs=300, random_state=0, callbacks=[Slow(str(started))]).fit(X_train, y_train)
    monkeypatch.setattr(ddp, "_watch", watch)
    with distributed.Client(cluster.scheduler_address) as client:
        import time

        def training():  # a cancelled task leaves processing() at once, so ask the workers
            return any(client.run(lambda: __import__("torch").distributed.is_initialized()).values())

        deadline = time.monotonic() + 60  # each rank looks about once a second; untold, they would train for minutes
        while time.monotonic() < deadline and training():
            time.sleep(0.2)
        assert not training()


def test_what_a_scripts_callback_prints_on_the_ranks_reaches_the_caller_once(cluster, capsys):
    """A callback defined in the user's code prints each epoch and warns once: on one rank per
    worker the caller sees rank 0's lines and warning, as one process would say them."""
    import warnings

    class PrintEpoch(Callback):
        def on_epoch_end(self, training):
            print(f"epoch {training.epoch} of {training.world_size} ranks")
            if training.epoch == 0:
                warnings.warn("first epoch done", UserWarning)

    params = {"image_shape": (8, 8), "epochs": 3, "batch_size": 128, "random_state": 0}
    with warnings.catch_warnings(record=True) as caught, scaleml.backend("dask", address=cluster.scheduler_address):
        warnings.simplefilter("always")
        CNNClassifier(**params, callbacks=[PrintEpoch()]).fit(X_train, y_train)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert printed == [f"epoch {e} of 2 ranks" for e in range(3)]
    assert [str(w.message) for w in caught if str(w.message) == "first epoch done"] == ["first epoch done"]
