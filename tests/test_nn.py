"""scaleml.nn estimators: accuracy, reproducibility, devices, inputs, checkpoints."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_array_equal

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from scaleml.exceptions import BackendUnavailableError  # noqa: E402
from scaleml.nn import CNNClassifier, MLPClassifier, MLPRegressor  # noqa: E402
from scaleml.exceptions import CheckpointError  # noqa: E402
from scaleml.planning import Route  # noqa: E402

pytestmark = pytest.mark.timeout(300)

X_digits, y_digits = load_digits(return_X_y=True)
X_digits = X_digits / 16.0
X_iris, y_iris = load_iris(return_X_y=True)


def _weights(model):
    return [p.detach().cpu().numpy().copy() for p in model.module_.parameters()]


def test_cnn_on_digits_reaches_97_percent():
    X_train, X_test, y_train, y_test = train_test_split(X_digits, y_digits, test_size=0.25, random_state=0)
    model = CNNClassifier(image_shape=(8, 8), random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.97
    assert model.device_ == "cpu" and model.n_epochs_ == 20 and len(model.history_) == 20
    assert {"epoch", "loss", "seconds"} <= set(model.history_[0])
    assert model.history_[-1]["loss"] < model.history_[0]["loss"]


def test_same_seed_same_model_on_cpu():
    a = MLPClassifier(epochs=5, random_state=3).fit(X_iris, y_iris)
    b = MLPClassifier(epochs=5, random_state=3).fit(X_iris, y_iris)
    for wa, wb in zip(_weights(a), _weights(b)):
        assert_array_equal(wa, wb)
    c = MLPClassifier(epochs=5, random_state=4).fit(X_iris, y_iris)
    assert not np.array_equal(_weights(a)[0], _weights(c)[0])


@pytest.mark.parametrize(
    "X",
    [X_digits.reshape(-1, 8, 8), X_digits.reshape(-1, 1, 8, 8), X_digits],
    ids=["n-h-w", "n-c-h-w", "flat-square"],
)
def test_image_input_forms(X):
    model = CNNClassifier(epochs=2, random_state=0).fit(X[:300], y_digits[:300])
    assert model.input_shape_ == (1, 8, 8)
    assert model.predict(X[:5]).shape == (5,)


def test_image_shape_must_match_the_features():
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49 values but X has 64"):
        CNNClassifier(image_shape=(7, 7), epochs=1).fit(X_digits[:50], y_digits[:50])


def test_string_labels_and_predict_proba():
    labels = np.array(["setosa", "versicolor", "virginica"])[y_iris]
    model = MLPClassifier(epochs=30, random_state=0).fit(StandardScaler().fit_transform(X_iris), labels)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    proba = model.predict_proba(StandardScaler().fit_transform(X_iris))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_regressor_learns_and_scales_back():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    y = 1000 + 300 * X[:, 0] - 200 * X[:, 1]
    model = MLPRegressor(epochs=100, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.95
    assert abs(model.predict(X).mean() - 1000) < 50


def test_partial_fit_adds_epochs_and_needs_classes():
    model = MLPClassifier(random_state=0)
    model.partial_fit(X_iris, y_iris, classes=[0, 1, 2])
    model.partial_fit(X_iris, y_iris)
    assert model.n_epochs_ == 2 and len(model.history_) == 2
    with pytest.raises(ValueError, match=r"labels \[7\] not in classes_"):
        model.partial_fit(X_iris[:3], [0, 1, 7])


def test_early_stopping_keeps_the_best_epoch():
    model = MLPClassifier(epochs=200, early_stopping=True, n_iter_no_change=3, random_state=0,
                          learning_rate=0.05).fit(X_digits, y_digits)
    assert model.n_epochs_ < 200
    scores = [h["validation_score"] for h in model.history_]
    assert len(scores) == model.n_epochs_
    assert max(scores) >= scores[-1]


def test_devices_auto_quiet_explicit_loud():
    assert MLPClassifier(epochs=1).fit(X_iris, y_iris).device_ in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="PyTorch sees: .*cpu.*device='auto'"):
            MLPClassifier(epochs=1, device="cuda").fit(X_iris, y_iris)
    with pytest.raises(ValueError, match="not a device name"):
        MLPClassifier(epochs=1, device="gpu0").fit(X_iris, y_iris)


def test_clone_pipeline_grid_search_and_pickle():
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MLPClassifier(epochs=10, random_state=0)),
        {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)]}, cv=2,
    ).fit(X_iris, y_iris)
    best = search.best_estimator_
    restored = pickle.loads(pickle.dumps(best))
    assert_array_equal(restored.predict_proba(X_iris), best.predict_proba(X_iris))
    assert clone(best[-1]).get_params() == best[-1].get_params()


def test_user_module_class():
    class Tiny(torch.nn.Module):
        def __init__(self, input_shape, n_outputs):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(input_shape)), n_outputs))

        def forward(self, x):
            return self.net(x)

    model = CNNClassifier(module=Tiny, epochs=3, random_state=0).fit(X_digits[:200], y_digits[:200])
    assert isinstance(model.module_, Tiny)


def _fit_in_subprocess(folder, epochs, kill_at=None, weights_to=None):
    """Fit in a fresh process (same threads and state as the others); optionally die
    abruptly right after epoch `kill_at`'s checkpoint, or save the final weights."""
    script = textwrap.dedent(f"""
        import os
        import numpy as np
        from sklearn.datasets import load_digits
        from scaleml.nn import _checkpoint, MLPClassifier
        real_save = _checkpoint.save_checkpoint
        def save_then_die(folder, state, fingerprint):
            real_save(folder, state, fingerprint)
            if state["epoch"] == {kill_at!r}:
                os._exit(9)  # no cleanup, as a killed process
        _checkpoint.save_checkpoint = save_then_die
        X, y = load_digits(return_X_y=True)
        folder = {None if folder is None else str(folder)!r}
        model = MLPClassifier(epochs={epochs}, random_state=0, checkpoint_dir=folder, verbose=1).fit(X / 16.0, y)
        if {weights_to is not None!r}:
            np.savez({str(weights_to)!r}, *[p.detach().numpy() for p in model.module_.parameters()],
                     epochs=np.array([h["epoch"] for h in model.history_]))
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_killed_fit_resumes_to_the_same_weights(tmp_path):
    folder = tmp_path / "ckpt"
    died = _fit_in_subprocess(folder, epochs=6, kill_at=3)
    assert died.returncode == 9, died.stderr
    assert (folder / "checkpoint.pt").exists()
    resumed = _fit_in_subprocess(folder, epochs=6, weights_to=tmp_path / "resumed.npz")
    assert resumed.returncode == 0, resumed.stderr
    trained = [line.split("epoch ")[1].split(",")[0] for line in resumed.stderr.splitlines() if "epoch " in line]
    assert trained == ["4", "5", "6"]  # epochs 1-3 came from the checkpoint
    assert not (folder / "checkpoint.pt").exists()  # finished: removed
    straight = _fit_in_subprocess(None, epochs=6, weights_to=tmp_path / "straight.npz")
    assert straight.returncode == 0, straight.stderr
    a, b = np.load(tmp_path / "resumed.npz"), np.load(tmp_path / "straight.npz")
    assert_array_equal(a["epochs"], [1, 2, 3, 4, 5, 6])
    for key in b.files:
        assert_array_equal(a[key], b[key], err_msg=key)  # bit for bit


def test_damaged_or_foreign_checkpoint_is_refused(tmp_path):
    folder = tmp_path / "ckpt"
    assert _fit_in_subprocess(folder, epochs=6, kill_at=2).returncode == 9
    payload = (folder / "checkpoint.pt").read_bytes()
    (folder / "checkpoint.pt").write_bytes(payload[: len(payload) // 2])  # half-written
    with pytest.raises(CheckpointError, match="does not match its recorded hash"):
        MLPClassifier(epochs=6, random_state=0, checkpoint_dir=str(folder)).fit(X_digits, y_digits)
    (folder / "checkpoint.pt").write_bytes(payload)
    with pytest.raises(CheckpointError, match="different fit"):
        MLPClassifier(epochs=6, random_state=1, checkpoint_dir=str(folder)).fit(X_digits, y_digits)


@pytest.mark.gpu
def test_trains_on_cuda_and_loads_on_cpu(tmp_path):
    X_train, X_test, y_train, y_test = train_test_split(X_digits, y_digits, test_size=0.25, random_state=0)
    model = CNNClassifier(image_shape=(8, 8), device="cuda", random_state=0).fit(X_train, y_train)
    assert model.device_.startswith("cuda")
    assert model.score(X_test, y_test) >= 0.97
    restored = pickle.loads(pickle.dumps(model))
    assert next(restored.module_.parameters()).device.type == "cpu"  # pickles hold CPU tensors
    restored.device_ = "cpu"  # as on a machine without a GPU
    agreement = (restored.predict(X_test) == model.predict(X_test)).mean()
    assert agreement >= 0.99  # bf16 on the GPU vs fp32 on the CPU may flip a borderline sample


@pytest.mark.gpu
def test_auto_picks_cuda():
    assert MLPClassifier(epochs=1).fit(X_iris, y_iris).device_.startswith("cuda")


@pytest.mark.slow
def test_two_process_gloo_training_matches_single_process_accuracy():
    from scaleml.nn.distributed import fit_distributed

    X_train, X_test, y_train, y_test = train_test_split(X_digits, y_digits, test_size=0.25, random_state=0)
    single = MLPClassifier(epochs=30, random_state=0).fit(X_train, y_train)
    ddp = fit_distributed(MLPClassifier(epochs=30, random_state=0), X_train, y_train, nprocs=2, backend="gloo")
    assert ddp.n_epochs_ == 30
    single_acc, ddp_acc = single.score(X_test, y_test), ddp.score(X_test, y_test)
    assert ddp_acc >= 0.95 and abs(ddp_acc - single_acc) <= 0.02, (single_acc, ddp_acc)


def test_compile_option_trains_the_same_module():
    plain = MLPClassifier(epochs=3, random_state=0).fit(X_iris, y_iris)
    compiled = MLPClassifier(epochs=3, random_state=0, compile="eager").fit(X_iris, y_iris)
    assert isinstance(compiled.module_, torch.nn.Sequential)  # the plain module is kept
    for a, b in zip(_weights(plain), _weights(compiled)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    pickle.loads(pickle.dumps(compiled)).predict(X_iris)


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_plans_say_where_a_torch_estimator_runs(backend):
    from scaleml import Scaled, explain

    pytest.importorskip("distributed") if backend == "dask" else None
    pipe = make_pipeline(StandardScaler(), MLPClassifier(epochs=1, random_state=0))
    before = explain(pipe, backend=backend)[1]
    model = Scaled(pipe, backend=backend).fit(X_iris, y_iris)
    if backend == "local":
        assert before.route is Route.TORCH and "device='auto' -> " in before.reason
        assert model.plan_[1].device == model.estimator_[-1].device_
    else:  # the backend's cluster: data-parallel, one rank per worker
        assert before.route is Route.TORCH_DISTRIBUTED
        assert before.parallelism.startswith("one rank per Dask worker")
        assert model.plan_[1] == before and model.estimator_[-1].device_ == "cpu"
    assert model.score(X_iris, y_iris) > 0.3


class _SmallMemory(torch.nn.Module):
    """Behaves as a GPU with room for 32 samples: larger batches raise CUDA's OOM error."""

    def __init__(self, input_shape, n_outputs):
        super().__init__()
        self.linear = torch.nn.Linear(int(np.prod(input_shape)), n_outputs)

    def forward(self, x):
        if x.shape[0] > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.linear(x.flatten(1))


def test_out_of_memory_names_the_batch_size_to_lower():
    with pytest.raises(MemoryError, match=r"training with batch_size=64 .*Lower batch_size \(try batch_size=32\)"):
        MLPClassifier(module=_SmallMemory, batch_size=64, epochs=1).fit(X_iris, y_iris)
    model = MLPClassifier(module=_SmallMemory, batch_size=32, epochs=1).fit(X_iris, y_iris)
    with pytest.raises(MemoryError, match=r"prediction with batch_size=32 \(4 x batch_size"):
        model.predict(X_iris)  # prediction batches are 4x larger: the message says so
    assert MLPClassifier(module=_SmallMemory, batch_size=8, epochs=1).fit(X_iris, y_iris).predict(X_iris).shape == (150,)
