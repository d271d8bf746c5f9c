"""GANForge's Python SDK: a pure HTTP client of the GANForge API (it imports nothing of the server).

    import ganforge

    gf = ganforge.Client()                      # $GANFORGE_URL, $GANFORGE_API_KEY
    (digit,) = gf.generate("mnist-cdcgan", seed=7, labels=3)
    (face,) = gf.generate("fashion-stylegan2", seed=7, truncation_psi=0.7)
    model = gf.train("cdcgan", "digits", "my-digits", steps=500, image_size=8)
"""

from ganforge._retry import RetryPolicy
from ganforge.client import AsyncClient, Client
from ganforge.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    GanforgeError,
    Gone,
    JobCanceled,
    JobFailed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    WaitTimeout,
)
from ganforge.types import (
    Dataset,
    Interpolation,
    Job,
    JobOutput,
    JobPage,
    JobStatus,
    Manifest,
    ModelRef,
    ModelSummary,
    StyleMixing,
)

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Dataset",
    "GanforgeError",
    "Gone",
    "Interpolation",
    "Job",
    "JobCanceled",
    "JobFailed",
    "JobOutput",
    "JobPage",
    "JobStatus",
    "Manifest",
    "ModelRef",
    "ModelSummary",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "StyleMixing",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "WaitTimeout",
]
