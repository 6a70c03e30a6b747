"""``python -m glinker.serve``: the HTTP server (``glinker/conf/serve.yaml``; every glinker.link option applies).

Examples::

    python -m glinker.serve                                  # demo KB on http://127.0.0.1:8000
    python -m glinker.serve kb_dir=kb/arnold host=0.0.0.0 port=8080 limits.timeout_s=30 batching.window_ms=10
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from omegaconf import OmegaConf

from glinker.errors import GlinkerError, InputError

logger = logging.getLogger("glinker.serve")

USAGE = __doc__.split("Examples::", 1)[1]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: serves until SIGINT / SIGTERM; exit 2 on bad options or a KB / model that cannot load."""
    from glinker.serve.options import compose_config, read_serve_options

    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(f"usage: python -m glinker.serve [key=value ...]\n{USAGE}\nOptions and defaults: glinker/conf/serve.yaml "
              "(server) and glinker/conf/link.yaml (linking).")
        return
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        try:
            import uvicorn

            from glinker.serve.app import create_app
        except ImportError as exc:
            raise InputError(f"the server needs FastAPI and uvicorn ({exc}): pip install -e \".[serve]\"") from None
        cfg = compose_config("serve", argv)
        opts = read_serve_options(cfg)
        candidates = cfg.get("candidates")
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 0:
            raise InputError(f"candidates={candidates!r}: expected a whole number >= 0")
        if cfg.get("kb_dir") and not Path(str(cfg.kb_dir)).is_dir():
            raise InputError(f"kb_dir={cfg.kb_dir}: no such folder (build one with python -m kb_build, "
                             "or leave kb_dir out for the demo KB)")
        plain = OmegaConf.to_container(cfg, resolve=True)
    except GlinkerError as exc:
        logger.error("%s", exc)
        sys.exit(2)
    logging.getLogger().setLevel(opts.log_level.upper())
    from glinker.config import PipelineFactory

    server: list = []
    app = create_app(PipelineFactory(plain), opts, default_candidates=candidates,
                     on_load_failure=lambda: setattr(server[0], "should_exit", True))
    config = uvicorn.Config(app, host=opts.host, port=opts.port, log_level=opts.log_level, access_log=False,
                            log_config=None)  # our one line per request instead of uvicorn's access log
    server.append(uvicorn.Server(config))
    server[0].run()
    if app.state.glinker.load_error:
        sys.exit(2)


if __name__ == "__main__":
    main()
