"""ipm-analysis: which operational chain KPIs drive customer KPIs.

The package behind the report notebooks. Data flow is one way:
load → validate → model frame → analyse → present → batch.
"""

from .config import ClientConfig, load_config
from .data import Client, load_client, validate_client
from .errors import IpmError, Problem, ValidationError

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ClientConfig",
    "IpmError",
    "Problem",
    "ValidationError",
    "load_client",
    "load_config",
    "validate_client",
    "__version__",
]
