"""`docker build` with the classic builder protocol, through the real docker CLI."""

import shutil
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

SAMPLE = Path(__file__).resolve().parents[2] / "bench" / "fixtures" / "build-sample"


def tag() -> str:
    return f"build-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def sample(tmp_path):
    context = tmp_path / "sample"
    shutil.copytree(SAMPLE, context)
    return context


def test_it_builds_the_sample_and_the_image_runs(platform, sample):
    name = tag()
    out = platform.docker("build", "-t", name, "-t", f"{name}:v2", str(sample))
    assert out.returncode == 0, out.stderr
    assert "Step 1/" in out.stdout and f"Successfully tagged {name}:latest" in out.stdout
    try:
        run = platform.docker("run", "--rm", name)
        assert run.returncode == 0, run.stderr
        assert "data/item-1.txt: hello number 1" in run.stdout
        same = platform.docker("image", "inspect", "-f", "{{.Id}}", f"{name}:v2")
        assert same.stdout == platform.docker("image", "inspect", "-f", "{{.Id}}", name).stdout
        history = platform.docker("history", "--no-trunc", name)
        assert "sh src/index.sh" in history.stdout and "EXPOSE 8080" in history.stdout
    finally:
        platform.docker("rmi", name, f"{name}:v2")


def test_an_unchanged_rebuild_uses_the_cache_for_every_step(platform, sample):
    name = tag()
    first = platform.docker("build", "-t", name, str(sample))
    assert first.returncode == 0, first.stderr
    try:
        second = platform.docker("build", "-t", name, str(sample))
        steps = second.stdout.count("Step ")
        froms = second.stdout.count(" : FROM ") + second.stdout.count(" : ARG GREETING=")
        assert second.stdout.count("Using cache") == steps - froms
        (sample / "src" / "version.txt").write_text("2\n")
        third = platform.docker("build", "-t", name, str(sample))
        after_copy = third.stdout.split("COPY src/ ./src/", 1)[1]
        assert "Using cache" in third.stdout.split("COPY src/ ./src/", 1)[0]
        assert "Using cache" not in after_copy
    finally:
        platform.docker("rmi", name)


def test_build_args_target_and_labels(platform, sample):
    name = tag()
    out = platform.docker(
        "build",
        "--build-arg",
        "GREETING=ahoy",
        "--target",
        "generate",
        "--label",
        "team=qa",
        "-t",
        name,
        str(sample),
    )
    assert out.returncode == 0, out.stderr
    try:
        listing = platform.docker("run", "--rm", name, "cat", "/gen/out/item-2.txt")
        assert listing.stdout == "ahoy number 2\n"
        label = platform.docker("inspect", "-f", '{{index .Config.Labels "team"}}', name)
        assert label.stdout.strip() == "qa"
    finally:
        platform.docker("rmi", name)


def test_a_failing_step_names_the_command_and_exit_code(platform, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo before && exit 7\n")
    out = platform.docker("build", "-t", tag(), str(tmp_path))
    assert out.returncode != 0
    assert "returned a non-zero code: 7" in out.stderr
    assert "before" in out.stdout


def test_dockerignore_and_another_dockerfile(platform, tmp_path):
    (tmp_path / "keep.txt").write_text("kept\n")
    (tmp_path / "secret.tmp").write_text("hidden\n")
    (tmp_path / ".dockerignore").write_text("*.tmp\n")
    (tmp_path / "Other.Dockerfile").write_text("FROM busybox\nCOPY . /ctx/\nCMD ls /ctx\n")
    name = tag()
    out = platform.docker(
        "build", "-f", str(tmp_path / "Other.Dockerfile"), "-t", name, str(tmp_path)
    )
    assert out.returncode == 0, out.stderr
    try:
        listing = platform.docker("run", "--rm", name).stdout.split()
        assert "keep.txt" in listing and "secret.tmp" not in listing
    finally:
        platform.docker("rmi", name)


def test_build_prune_empties_the_cache_and_system_df_reports(platform, sample):
    name = tag()
    assert platform.docker("build", "-t", name, str(sample)).returncode == 0
    platform.docker("rmi", name)
    df = platform.docker("system", "df")
    assert df.returncode == 0, df.stderr
    assert "Build Cache" in df.stdout
    pruned = platform.docker("builder", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    again = platform.docker("build", "-t", name, str(sample))
    try:
        assert "Using cache" not in again.stdout
    finally:
        platform.docker("rmi", name)
