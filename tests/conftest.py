from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("ci")

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory):
    """Decompressed language models go to a folder of the session's (and its subprocesses'), not the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OASST_QUALITY_CACHE", str(tmp_path_factory.mktemp("model-cache")))
        yield
