"""Entity linking over HTTP: ``python -m glinker.serve [kb_dir=DIR] [host=… port=…]``.

FastAPI + uvicorn around one :class:`~glinker.pipeline.Pipeline` (model and KB loaded once):
``POST /link`` (JSON, the CLI's records), ``POST /nif`` (NIF/Turtle, GERBIL), ``GET /entity/{qid}``,
``GET /health``, ``GET /ready``, an HTML view at ``/`` and the OpenAPI docs at ``/docs``. Concurrent
requests are linked in micro-batches (:mod:`glinker.serve.batching`). Needs ``pip install -e ".[serve]"``.
"""

from __future__ import annotations
