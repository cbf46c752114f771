"""``python -m cn_llm_client``: the same as the ``cn-llm`` command."""

from .cli import main

raise SystemExit(main())
