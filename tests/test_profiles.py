"""Backend profiles: YAML files usable as backend names."""

import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from scaleml import Scaled
from scaleml.backends import create_backend
from scaleml.backends._profiles import all_profiles
from scaleml.exceptions import BackendOptionError, ProfileError, UnknownBackendError

X, y = load_iris(return_X_y=True)


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEML_PROFILES", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # keep ./backends of the repository out of the search
    return tmp_path


def test_profile_as_backend_name(profiles):
    (profiles / "team.yaml").write_text("description: all cores\nbackend: local\noptions:\n  n_jobs: 2\n")
    model = Scaled(RandomForestClassifier(n_estimators=5, random_state=0), backend="team").fit(X, y)
    assert model.plan_.backend == "local" and model.plan_.backend_options == {"n_jobs": 2}
    # Options given directly are laid over the profile's.
    assert create_backend("team", n_jobs=1).options["n_jobs"] == 1
    assert [p.name for p in all_profiles()] == ["team"]


def test_relative_certificate_paths_resolve_against_the_profile(profiles):
    pytest.importorskip("distributed")
    (profiles / "tls.yaml").write_text(
        "backend: dask\noptions:\n  address: tls://127.0.0.1:1\n  security:\n    tls_ca_file: certs/ca.pem\n"
    )
    (profiles / "certs").mkdir()
    (profiles / "certs" / "ca.pem").write_text("not checked before connecting")
    backend = create_backend("tls")
    assert backend.options["security"]["tls_ca_file"] == str((profiles / "certs" / "ca.pem").resolve())


@pytest.mark.parametrize(
    "text, error, match",
    [
        ("backend: local\nbogus: 1\n", ProfileError, "unknown key"),
        ("- local\n", ProfileError, "expected a mapping"),
        ("options: {}\n", ProfileError, "'backend' must name a backend"),
        ("backend: local\noptions: [1]\n", ProfileError, "'options' must be a mapping"),
        ("backend: local\noptions:\n  n_jobs: 0\n", BackendOptionError, "n_jobs"),
        ("backend: nope\n", UnknownBackendError, "Unknown backend 'nope'"),
        ("backend: local\noptions: !!python/object/apply:os.system ['echo hi']\n", ProfileError, "Cannot read"),
    ],
)
def test_bad_profiles_name_the_file_and_problem(profiles, text, error, match):
    (profiles / "bad.yaml").write_text(text)
    with pytest.raises(error, match=match):
        create_backend("bad")


def test_unknown_name_lists_profiles(profiles):
    (profiles / "team.yaml").write_text("backend: local\n")
    with pytest.raises(UnknownBackendError, match="Profiles: team"):
        create_backend("nothing-like-it")


def test_shipped_profiles_load():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "backends"
    from scaleml.backends._profiles import load

    loaded = {p.stem: load(p) for p in folder.glob("*.yaml") if p.stem != "dask-remote"}
    assert {"local-all-cores", "dask-local", "dask-ml-out-of-core"} <= set(loaded)
    for profile in loaded.values():
        assert profile.backend in ("local", "dask", "dask-ml") and profile.description
        if profile.cluster is not None:
            profile.cluster.check()  # its arguments are its engine's
    assert loaded["ssh-servers"].cluster.kind == "ssh"
    # The TLS template names certificates that are yours to provide: it says which is missing, and where.
    with pytest.raises(ProfileError, match=r"dask-remote.yaml: options.security.tls_ca_file names .*certs/ca.pem"):
        load(folder / "dask-remote.yaml")


def test_a_profile_named_like_a_backend_is_refused_not_shadowed(profiles):
    from click.testing import CliRunner

    from scaleml.cli import main

    (profiles / "local.yaml").write_text("backend: local\noptions:\n  n_jobs: 2\n")
    (profiles / "Dask.yml").write_text("backend: dask\n")
    assert all_profiles() == []
    assert create_backend("local").options["n_jobs"] is None  # the built-in, as before; and now said:
    info = CliRunner().invoke(main, ["info", "--no-torch"])
    assert "Profiles that cannot be used" in info.output
    assert "local.yaml has the name of the backend 'local'" in info.output and "Rename the file" in info.output


def test_missing_certificate_is_named_with_its_profile(profiles):
    (profiles / "team-tls.yaml").write_text(
        "backend: dask\noptions:\n  address: tls://127.0.0.1:1\n  security:\n    tls_client_key: keys/me.pem\n"
    )
    with pytest.raises(ProfileError, match=r"team-tls.yaml: options.security.tls_client_key names .*keys/me.pem"):
        create_backend("team-tls")


def test_profile_name_typos_get_a_suggestion(profiles):
    (profiles / "team-cluster.yaml").write_text("backend: local\n")
    with pytest.raises(UnknownBackendError, match="Did you mean 'team-cluster'"):
        create_backend("team-clustr")
