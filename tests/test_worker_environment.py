"""Workers whose packages differ from this process's are refused on connecting, with every
difference named (it surfaced later as an unpickling error mid-fit).

Real `dask scheduler` and `dask worker` processes; the odd worker sees a scikit-learn
0.0.1 distribution first on its path, as a worker installed from another environment would.
"""

import os
import signal
import socket
import subprocess
import sys

import pytest

pytest.importorskip("distributed")

import scaleml  # noqa: E402
from scaleml.engines.dask import close_all  # noqa: E402
from scaleml.exceptions import ClusterConnectionError  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def odd_worker_cluster(tmp_path):
    old = tmp_path / "site" / "scikit_learn-0.0.1.dist-info"
    old.mkdir(parents=True)
    (old / "METADATA").write_text("Metadata-Version: 2.1\nName: scikit-learn\nVersion: 0.0.1\n")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    worker_env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(tmp_path / "site"), os.environ.get("PYTHONPATH")) if p)}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
                                   "--nthreads", "1", "--no-dashboard"], env=worker_env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    import distributed

    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=120)
    yield address
    close_all(address)
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_worker_with_another_scikit_learn_is_named_before_any_fit(odd_worker_cluster):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import cross_val_score

    X, y = load_iris(return_X_y=True)
    with pytest.raises(ClusterConnectionError) as err:
        with scaleml.backend("dask", address=odd_worker_cluster):
            cross_val_score(RandomForestClassifier(n_estimators=5), X, y, cv=3, n_jobs=-1)
    message = str(err.value)
    assert "scikit-learn 0.0.1" in message and odd_worker_cluster in message
    assert "Install the same versions on the workers" in message
    assert "python" not in message.split(": ", 1)[1].split(". Install")[0]  # only what differs is listed


def test_workers_of_this_environment_pass(external_cluster):
    from scaleml.engines.dask._environment import check_worker_environment

    address, client = external_cluster
    check_worker_environment(client, address)  # no error: the same packages
