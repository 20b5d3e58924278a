"""Customer journeys mined from event logs.

Two modules, one way: :mod:`~ipm_analysis.journeys.log` holds the process-mining primitives
on an events frame or a prepared log (variants, directly-follows, conformance to the designed
journey, deviations, funnels, channels and contacts, journey features per case), and
:mod:`~ipm_analysis.journeys.client` the adapters that take a loaded client and a chain id,
and the journeys section of a report. Every public name of both is available here as
``journeys.<name>``.
"""

from .client import *  # noqa: F401,F403
from .client import __all__ as _client_all
from .log import *  # noqa: F401,F403
from .log import __all__ as _log_all

__all__ = [*_log_all, *_client_all]
