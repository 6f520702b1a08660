"""The scheduled system jobs for an orchestrator: Dagster assets (``assets.py``).

Optional: it needs the extra of ``requirements-orchestration.txt`` and nothing of the
console's own set up changes; ``python -m console jobs`` (cron) stays the default. A Dagster
deployment loads the code location ``-m console.orchestration`` (the ``defs`` below), e.g.
``dagster api grpc -m console.orchestration``, in an environment with the console's variables
(``JOBS_DATABASE_URL``: console/settings.py). Nothing here imports Streamlit.
"""
from console.orchestration.assets import defs

__all__ = ["defs"]
