"""Python client of Colloquy's gateway and conversation store.

The messages and stubs are generated from the repository's proto/ by generate.py into
_gen/. protoc writes them as the top-level package `colloquy` (the proto package path), and
they import each other by that name, so _gen/ is put on sys.path before they are loaded.
"""

import sys
from pathlib import Path

_GEN = Path(__file__).resolve().parent / "_gen"
if not (_GEN / "colloquy").is_dir():
    raise ImportError(
        f"generated code is missing under {_GEN}; run `python generate.py` in clients/python"
    )
if str(_GEN) not in sys.path:
    sys.path.insert(0, str(_GEN))

from colloquy.common.v1 import completion_pb2 as common_pb2  # noqa: E402
from colloquy.gateway.v1 import gateway_pb2, gateway_pb2_grpc  # noqa: E402
from colloquy.store.v1 import store_pb2, store_pb2_grpc  # noqa: E402

__all__ = [
    "common_pb2",
    "gateway_pb2",
    "gateway_pb2_grpc",
    "store_pb2",
    "store_pb2_grpc",
]
