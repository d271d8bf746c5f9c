"""deploy/kubernetes/, checked structurally (issue 24, item 7).

No cluster runs where this project is developed: the manifests are parsed and held to what the
objects refer to — files to the kustomization, selectors to pod labels, Service ports to
container ports, env references to the ConfigMap and Secret, the KEDA trigger to a Deployment and
to the Redis list Celery really writes — and to what the service needs (probes it answers,
resources, a GPU for training, the Redis AOF on a volume). Where `kubectl` (with its built-in
kustomize) or `kustomize` is installed, the kustomization is built too.
"""

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml  # PyYAML, a test extra

from service.api.routers.health import router as health_router
from service.core.queue import create_celery
from service.core.routing import ALL_QUEUES, INFERENCE_QUEUE, ROUTES
from service.core.settings import Settings
from service.local.redis_server import start_redis

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
PLACEHOLDER = "CHANGE_ME"


def _load_objects() -> list[dict]:
    objects = []
    for name in KUSTOMIZATION["resources"]:
        path = KUBE / name
        if path.is_file():
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


OBJECTS = _load_objects()


def of_kind(kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in OBJECTS if o["kind"] == kind}


def one(kind: str, name: str) -> dict:
    found = of_kind(kind)
    assert name in found, f"no {kind} named {name!r} (there are {sorted(found)})"
    return found[name]


WORKLOADS = {o["metadata"]["name"]: o for o in OBJECTS if o["kind"] in WORKLOAD_KINDS}
SECRETS = of_kind("Secret")
CONFIGMAPS = of_kind("ConfigMap")


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    return pod_spec(workload)["containers"]


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def command(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def option(cmd: list[str], flag: str) -> str | None:
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


def is_celery_worker(container: dict) -> bool:
    cmd = command(container)
    return cmd[:1] == ["celery"] and "worker" in cmd


def celery_workers() -> dict[str, tuple[dict, dict]]:
    """Workload name -> (workload, its Celery worker container)."""
    return {name: (w, c) for name, w in WORKLOADS.items() for c in containers(w) if is_celery_worker(c)}


def env_value(container: dict, name: str) -> str | None:
    for item in container.get("env", []):
        if item["name"] == name:
            return item.get("value")
    return None


def secret_data(name: str) -> dict[str, str]:
    secret = SECRETS[name]
    return {**secret.get("data", {}), **secret.get("stringData", {})}


# --- the kustomization ----------------------------------------------------------------------

def test_the_kustomization_lists_every_manifest_and_only_those():
    listed = KUSTOMIZATION["resources"]
    present = {p.name for p in KUBE.glob("*.y*ml")} - {"kustomization.yaml"}
    assert len(listed) == len(set(listed)), "a file listed twice"
    assert set(listed) - present == set(), "listed but missing"
    assert present - set(listed) == set(), "in the folder but never applied"


def test_every_object_is_whole_and_named_once():
    seen = set()
    for o in OBJECTS:
        assert {"apiVersion", "kind", "metadata"} <= set(o), o
        key = (o["kind"], o["metadata"]["name"])
        assert key not in seen, f"{key} twice"
        seen.add(key)
        # The kustomization's namespace applies to all; a namespace written in a file would fight it.
        assert "namespace" not in o["metadata"], f"{key} names its own namespace"
    assert one("Namespace", KUSTOMIZATION["namespace"])
    assert {"api", "inference-worker", "training-worker", "redis"} <= set(WORKLOADS)


def test_every_image_is_one_the_kustomization_points_at_a_registry():
    images = {i["name"]: i for i in KUSTOMIZATION["images"]}
    for name, workload in WORKLOADS.items():
        for c in containers(workload):
            if c["image"].startswith("redis:"):
                continue
            assert c["image"] in images, f"{name}: image {c['image']!r} is not in the kustomization's images"
    # The Dockerfile's two builds: the CPU image (GPU=0) and the GPU image (GPU=1).
    assert set(images) == {"ganforge", "ganforge-gpu"}


# The oldest Kubernetes these manifests are for (they use nothing newer) and the newest whose
# schemas kubernetes-validate carries: a field misspelt or removed fails one of them.
OLDEST_KUBERNETES = "1.30.0"


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, "latest"])
def test_built_in_objects_follow_kubernetes_schemas(version):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="a test extra (pyproject.toml)")
    version = kubernetes_validate.latest_version() if version == "latest" else version
    built_in = [o for o in OBJECTS if not o["apiVersion"].startswith("keda.sh/")]  # KEDA's: a CRD, no schema
    assert len(built_in) >= 10
    errors = []
    for o in built_in:
        try:
            kubernetes_validate.validate(o, version, strict=True)  # strict: unknown fields fail too
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{o['kind']} {o['metadata']['name']}: {error.message} at {'/'.join(map(str, error.path))}")
    assert not errors, f"against Kubernetes {version}: {errors}"


# --- selectors, Services, ports ---------------------------------------------------------------

def test_every_disruption_budget_covers_pods():
    for name, budget in of_kind("PodDisruptionBudget").items():
        selector = budget["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= pod_labels(w).items() for w in WORKLOADS.values()), f"{name} covers no pods"


def test_selectors_match_their_pod_templates():
    for name, workload in WORKLOADS.items():
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector, f"{name} selects every pod"
        labels = pod_labels(workload)
        assert selector.items() <= labels.items(), f"{name}: selector {selector} does not match its pods {labels}"
    # Two workloads whose selectors overlap would fight over each other's pods.
    for a, wa in WORKLOADS.items():
        for b, wb in WORKLOADS.items():
            if a != b:
                assert not wa["spec"]["selector"]["matchLabels"].items() <= pod_labels(wb).items(), (a, b)


def selected_workloads(service: dict) -> list[dict]:
    selector = service["spec"].get("selector") or {}
    return [w for w in WORKLOADS.values() if selector and selector.items() <= pod_labels(w).items()]


def test_every_service_selects_pods_and_targets_a_declared_port():
    assert of_kind("Service"), "no Service"
    for name, service in of_kind("Service").items():
        targets = selected_workloads(service)
        assert targets, f"Service {name} selects no pods"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for workload in targets:
                declared = [p for c in containers(workload) for p in c.get("ports", [])]
                assert any(target in (p.get("name"), p["containerPort"]) for p in declared), (
                    f"Service {name} sends port {port['port']} to {target!r}, which "
                    f"{workload['metadata']['name']} does not declare")


def test_the_redis_statefulset_is_governed_by_its_service():
    redis_set = one("StatefulSet", "redis")
    service = one("Service", redis_set["spec"]["serviceName"])
    assert redis_set in selected_workloads(service)


# --- probes, resources, termination ----------------------------------------------------------

def test_every_container_has_probes_and_resources():
    for name, workload in WORKLOADS.items():
        for c in containers(workload):
            where = f"{name}/{c['name']}"
            assert c.get("readinessProbe"), f"{where}: no readiness probe"
            assert c.get("livenessProbe"), f"{where}: no liveness probe"
            resources = c.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where}: requests {resources}"
            assert "memory" in resources.get("limits", {}), f"{where}: no memory limit"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                port = (c.get(probe) or {}).get("httpGet", {}).get("port")
                if port is not None:
                    assert port in {p.get("name") for p in c["ports"]} | {p["containerPort"] for p in c["ports"]}, (
                        f"{where}: {probe} asks port {port!r}, which the container does not declare")


def test_the_api_is_ready_on_ready_and_alive_on_health():
    api = one("Deployment", "api")
    (container,) = containers(api)
    answered = {route.path for route in health_router.routes}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready" and "/ready" in answered
    assert container["livenessProbe"]["httpGet"]["path"] == "/health" and "/health" in answered
    assert env_value(container, "GANFORGE_HOST") == "0.0.0.0", "the API would listen on loopback only"


def test_the_api_stops_within_its_grace():
    """The kubelet waits terminationGracePeriodSeconds in all: the preStop pause, then
    GANFORGE_API_GRACE_S for requests in flight, must fit, or they are cut by SIGKILL."""
    api = one("Deployment", "api")
    (container,) = containers(api)
    grace_s = float(env_value(container, "GANFORGE_API_GRACE_S") or Settings.model_fields["api_grace_s"].default)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause_s = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
    assert pod_spec(api)["terminationGracePeriodSeconds"] > pause_s + grace_s
    # A rollout starts a new pod before it stops an old one; a drain keeps one ready.
    rolling = api["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0, "a rolling update would drop capacity"
    assert api["spec"]["replicas"] >= 2, "one pod: every restart is an outage"
    (budget,) = [b for b in of_kind("PodDisruptionBudget").values()
                 if b["spec"]["selector"]["matchLabels"].items() <= pod_labels(api).items()]
    assert budget["spec"]["minAvailable"] >= 1


def test_workers_are_probed_with_a_celery_ping_to_their_own_node():
    assert set(celery_workers()) >= {"inference-worker", "inference-heavy-worker", "training-worker"}
    for name, (workload, c) in celery_workers().items():
        node = option(command(c), "-n")
        assert node and node.endswith("@%h"), f"{name}: node name {node!r}"
        for probe in ("readinessProbe", "livenessProbe"):
            exec_cmd = c[probe].get("exec", {}).get("command", [])
            assert exec_cmd[:2] == ["sh", "-c"], f"{name}: {probe} runs without a shell to expand $HOSTNAME"
            ping = shlex.split(exec_cmd[2])
            assert ping[:5] == ["celery", "-A", "workers.main", "inspect", "ping"], f"{name}: {exec_cmd}"
            # A pod's HOSTNAME is its name, which is what Celery's %h expands to.
            assert option(ping, "-d") == node.replace("%h", "$HOSTNAME"), f"{name}: {probe} pings another node"
            timeout = float(option(ping, "--timeout") or option(ping, "-t"))
            assert c[probe]["timeoutSeconds"] > timeout, f"{name}: {probe} is killed before the ping gives up"
        assert pod_spec(workload)["terminationGracePeriodSeconds"] >= 60, f"{name}: no time for a warm shutdown"


def test_every_queue_has_a_worker():
    consumed = {q for _, c in celery_workers().values() for q in option(command(c), "-Q").split(",")}
    assert set(ALL_QUEUES) <= consumed, f"nobody consumes {set(ALL_QUEUES) - consumed}"
    assert consumed <= set(ALL_QUEUES), f"unknown queues {consumed - set(ALL_QUEUES)}"


def test_the_training_worker_holds_one_gpu_and_trains_one_job_per_process():
    training = one("Deployment", "training-worker")
    (container,) = containers(training)
    resources = container["resources"]
    assert int(resources["limits"]["nvidia.com/gpu"]) == 1
    # An extended resource's request, if given, must equal its limit.
    assert int(resources["requests"].get("nvidia.com/gpu", 1)) == 1
    tolerations = pod_spec(training).get("tolerations", [])
    assert any(t["key"] == "nvidia.com/gpu" and t.get("operator") == "Exists" for t in tolerations), tolerations
    assert env_value(container, "GANFORGE_DEVICE").startswith("cuda")
    assert container["image"] == "ganforge-gpu", "the CPU image has no CUDA torch"
    cmd = command(container)
    assert option(cmd, "-Q") == "training"
    assert option(cmd, "-P") == "threads" and option(cmd, "-c") == "1" and option(cmd, "--prefetch-multiplier") == "1"
    # With one GPU each, a surge pod would wait for a GPU that the old pod never gives back.
    assert training["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    # Nothing but training asks for a GPU; CPU pods run the CPU image.
    for name, workload in WORKLOADS.items():
        for c in containers(workload):
            if name != "training-worker":
                assert "nvidia.com/gpu" not in c["resources"].get("limits", {}), name
                assert c["image"] != "ganforge-gpu", f"{name} runs the GPU image without a GPU"


# --- configuration and secrets ------------------------------------------------------------------

def env_references(container: dict) -> list[tuple[str, str, str | None]]:
    """(kind, object name, key or None for a whole envFrom) for each reference."""
    refs = []
    for item in container.get("env", []):
        source = item.get("valueFrom", {})
        if "secretKeyRef" in source:
            refs.append(("Secret", source["secretKeyRef"]["name"], source["secretKeyRef"]["key"]))
        if "configMapKeyRef" in source:
            refs.append(("ConfigMap", source["configMapKeyRef"]["name"], source["configMapKeyRef"]["key"]))
    for item in container.get("envFrom", []):
        if "secretRef" in item:
            refs.append(("Secret", item["secretRef"]["name"], None))
        if "configMapRef" in item:
            refs.append(("ConfigMap", item["configMapRef"]["name"], None))
    return refs


def test_env_taken_from_the_configmap_and_secret_exists_there():
    keys_of = {("Secret", n): set(secret_data(n)) for n in SECRETS}
    keys_of |= {("ConfigMap", n): set(c["data"]) for n, c in CONFIGMAPS.items()}
    for name, workload in WORKLOADS.items():
        for c in containers(workload):
            for kind, obj, key in env_references(c):
                assert (kind, obj) in keys_of, f"{name}/{c['name']}: no {kind} {obj!r}"
                assert key is None or key in keys_of[(kind, obj)], f"{name}/{c['name']}: {kind} {obj} has no {key!r}"
            # Kubernetes expands $(VAR) only from variables defined before it in the list.
            defined = set()
            for item in c.get("env", []):
                for used in re.findall(r"\$\((\w+)\)", item.get("value", "")):
                    assert used in defined, f"{name}: {item['name']} uses $({used}) before it is defined"
                defined.add(item["name"])
            for arg in command(c):
                for used in re.findall(r"\$\((\w+)\)", arg):
                    assert used in defined, f"{name}: $({used}) in its command is never defined"


def ganforge_env(container: dict) -> set[str]:
    names = {item["name"] for item in container.get("env", [])}
    for kind, obj, key in env_references(container):
        if key is None:
            names |= set(CONFIGMAPS[obj]["data"] if kind == "ConfigMap" else secret_data(obj))
    return names


def test_every_ganforge_process_gets_what_it_needs():
    needed = {"GANFORGE_REDIS_URL", "GANFORGE_ARTIFACTS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for name, workload in WORKLOADS.items():
        for c in containers(workload):
            if c["image"].startswith("redis:"):
                continue
            env = ganforge_env(c)
            assert needed <= env, f"{name}: missing {needed - env}"
            if is_celery_worker(c):  # workers sign webhook POSTs
                assert "GANFORGE_WEBHOOK_SECRET" in env, f"{name} signs webhooks with the public default"
    assert "GANFORGE_ADMIN_KEY" in ganforge_env(containers(one("Deployment", "api"))[0])


def test_ganforge_variables_are_settings_the_service_reads():
    """pydantic-settings ignores an unknown GANFORGE_ variable: a misspelt one would silently do
    nothing. Every one the manifests set is a field of the settings class."""
    fields = set(Settings.model_fields)
    names = set()
    for workload in WORKLOADS.values():
        for c in containers(workload):
            names |= {n for n in ganforge_env(c) if n.startswith("GANFORGE_")}
    unknown = {n for n in names if n.removeprefix("GANFORGE_").lower() not in fields}
    assert not unknown, f"not settings of service/core/settings.py: {sorted(unknown)}"


def test_the_secret_holds_placeholders_only_and_one_redis_password():
    (secret,) = SECRETS.values()
    assert "data" not in secret, "base64 data hides what still needs replacing: use stringData"
    values = secret["stringData"]
    unmarked = {k for k, v in values.items() if PLACEHOLDER not in v}
    assert not unmarked, f"a real-looking value in git: {unmarked}"
    url = urlsplit(values["GANFORGE_REDIS_URL"])
    assert url.password == values["REDIS_PASSWORD"], "the API and workers would use another password than Redis"
    service = one("Service", url.hostname)
    assert url.port in {p["port"] for p in service["spec"]["ports"]}
    assert one("StatefulSet", "redis") in selected_workloads(service)
    # Nothing secret in the ConfigMap.
    for configmap in CONFIGMAPS.values():
        for key in configmap["data"]:
            assert not re.search(r"SECRET|PASSWORD|_KEY(_ID)?$", key), f"{key} belongs in the Secret"


def test_artifacts_live_in_a_bucket():
    (configmap,) = CONFIGMAPS.values()
    assert configmap["data"]["GANFORGE_ARTIFACTS_URL"].startswith("s3://")
    # The model cache is each worker's own disk: a mounted emptyDir, not the image's layer.
    cache_dir = configmap["data"]["GANFORGE_MODEL_CACHE_DIR"]
    for name, (workload, c) in celery_workers().items():
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
        mount = next((path for path in mounts if cache_dir == path or cache_dir.startswith(path + "/")), None)
        assert mount, f"{name}: {cache_dir} is on no volume"
        assert "emptyDir" in volumes[mounts[mount]], f"{name}: the model cache is shared or lost"


# --- Redis -------------------------------------------------------------------------------------

def test_redis_writes_its_append_only_file_to_a_claimed_volume():
    redis_set = one("StatefulSet", "redis")
    (container,) = containers(redis_set)
    cmd = command(container)
    assert cmd[0] == "redis-server"
    assert option(cmd, "--appendonly") == "yes"
    assert option(cmd, "--appendfsync") in ("everysec", "always")
    assert option(cmd, "--maxmemory-policy") == "noeviction", "queued messages and leases could be evicted"
    assert option(cmd, "--requirepass") == "$(REDIS_PASSWORD)"
    data_dir = option(cmd, "--dir") or "/data"  # the official image's working directory
    claims = {t["metadata"]["name"] for t in redis_set["spec"]["volumeClaimTemplates"]}
    mounted = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == data_dir}
    assert mounted & claims, f"the AOF under {data_dir} is on no volumeClaimTemplate"
    # The pod may write there: its user owns the claimed volume through fsGroup.
    assert pod_spec(redis_set)["securityContext"].get("fsGroup") is not None


# --- KEDA ------------------------------------------------------------------------------------

def test_the_scaled_object_scales_the_inference_workers_on_their_queue():
    scaled = one("ScaledObject", "inference-worker")
    target = scaled["spec"]["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    deployment = one("Deployment", target["name"])
    assert "replicas" not in deployment["spec"], "each apply would reset what the autoscaler chose"
    assert scaled["spec"]["minReplicaCount"] >= 1, "the API's /ready needs a live inference worker"

    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    meta = trigger["metadata"]
    assert meta["listName"] == INFERENCE_QUEUE
    (container,) = containers(deployment)
    assert meta["listName"] in option(command(container), "-Q").split(","), "it scales workers of another queue"
    assert int(meta["listLength"]) > 0

    # The address is the Redis Service by its full name (KEDA runs in another namespace), on the
    # database the service uses.
    host, port = meta["address"].rsplit(":", 1)
    service_name, namespace, *_ = host.split(".")
    assert namespace == KUSTOMIZATION["namespace"]
    service = one("Service", service_name)
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    (secret,) = SECRETS.values()
    redis_url = urlsplit(secret["stringData"]["GANFORGE_REDIS_URL"])
    assert meta.get("databaseIndex", "0") == (redis_url.path.strip("/") or "0")

    auth = one("TriggerAuthentication", trigger["authenticationRef"]["name"])
    (password,) = [r for r in auth["spec"]["secretTargetRef"] if r["parameter"] == "password"]
    assert password["key"] in secret_data(password["name"])


def test_celery_keeps_the_inference_queue_in_the_list_keda_reads(tmp_path):
    """kombu's Redis transport LPUSHes a waiting message onto a list named after its queue: send
    a generate job as the API does, to a real Redis, and find it in that list."""
    server = start_redis(tmp_path)
    try:
        app = create_celery(Settings(redis_url=server.url))
        listed = one("ScaledObject", "inference-worker")["spec"]["triggers"][0]["metadata"]["listName"]
        client = redis.Redis.from_url(server.url)
        assert client.llen(listed) == 0
        app.send_task(ROUTES["generate"].task, args=["job-1"])
        assert client.llen(listed) == 1
        app.close()
    finally:
        server.stop()


# --- kustomize itself ---------------------------------------------------------------------------

def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(KUBE)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(KUBE)]
    return None


@pytest.mark.skipif(kustomize_command() is None, reason="neither kustomize nor kubectl is installed")
def test_kustomize_builds_every_object_into_the_namespace():
    built = subprocess.run(kustomize_command(), check=False, capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    objects = [o for o in yaml.safe_load_all(built.stdout) if o]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in OBJECTS)
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == KUSTOMIZATION["namespace"], o["metadata"]
        assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ganforge"
    images = {c["image"] for o in objects if o["kind"] in WORKLOAD_KINDS for c in pod_spec(o)["containers"]}
    expected = {f"{i['newName']}:{i['newTag']}" for i in KUSTOMIZATION["images"]}
    assert expected <= images, f"an image was not replaced: {images}"
