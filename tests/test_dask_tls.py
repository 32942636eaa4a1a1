"""TLS: a scheduler and worker that only speak TLS, reached with certificates."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

distributed = pytest.importorskip("distributed")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from numpy.testing import assert_array_equal  # noqa: E402

from scaleml import Scaled  # noqa: E402
from scaleml.engines.dask.cluster import close_all  # noqa: E402
from scaleml.exceptions import ClusterConnectionError  # noqa: E402

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make test certificates"),
]

X, y = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tls://127.0.0.1:{port}"
    tls = ["--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--protocol", "tls", "--host",
                          "127.0.0.1", "--port", str(port), "--no-dashboard", *tls],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                          "--no-dashboard", *tls],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
    ]
    security = {"tls_ca_file": str(cert), "tls_client_cert": str(cert), "tls_client_key": str(key)}
    client = distributed.Client(address, security=distributed.Security(require_encryption=True, **security),
                                timeout=60, set_as_default=False)
    client.wait_for_workers(1, timeout=120)
    yield address, security
    close_all(address)
    client.close()
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


def test_fit_over_tls(tls_cluster):
    address, security = tls_cluster
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    model = Scaled(forest, backend="dask", address=address, security=security).fit(X, y)
    assert_array_equal(model.predict_proba(X), RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y).predict_proba(X))


def test_tls_without_certificates_is_refused(tls_cluster):
    address, _ = tls_cluster
    with pytest.raises(ClusterConnectionError, match="no certificates"):
        Scaled(RandomForestClassifier(), backend="dask", address=address).fit(X, y)


def test_plain_tcp_to_a_tls_scheduler_fails_in_bounded_time(tls_cluster):
    address, _ = tls_cluster
    with pytest.raises(ClusterConnectionError, match="Could not reach"):
        Scaled(RandomForestClassifier(), backend="dask", address=address.replace("tls://", "tcp://"), timeout=3).fit(X, y)


def test_a_missing_certificate_file_is_named_with_its_option(tmp_path):
    """Before connecting: which file, from which option (was a 20 s 'could not reach' pointing elsewhere)."""
    (tmp_path / "ca.pem").write_text("present")
    start = time.monotonic()
    with pytest.raises(ClusterConnectionError, match=r"security\['tls_client_cert'\] does not exist: .*nope.pem"):
        Scaled(LogisticRegression(), backend="dask", address="tls://127.0.0.1:1",
               security={"tls_ca_file": str(tmp_path / "ca.pem"), "tls_client_cert": str(tmp_path / "nope.pem")}
               ).fit(X, y)
    assert time.monotonic() - start < 5
