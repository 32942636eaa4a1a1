import pytest


@pytest.fixture(autouse=True)
def _no_backend_from_environment(monkeypatch):
    """Tests start from the default backend, whatever the caller's environment says."""
    monkeypatch.delenv("SCALEML_BACKEND", raising=False)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items or _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is visible to PyTorch here")
    for item in gpu_items:
        item.add_marker(skip)
