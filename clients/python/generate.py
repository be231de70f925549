#!/usr/bin/env python3
"""Generates the Python messages and gRPC stubs from ../../proto into colloquy_client/_gen/.

Run with the interpreter that has requirements.txt installed; the output is replaced whole,
so stubs of a removed .proto file never linger.
"""

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
OUT = HERE / "colloquy_client" / "_gen"


def main() -> int:
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    if not sources:
        print(f"no .proto files under {PROTO_ROOT}", file=sys.stderr)
        return 1
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    # grpc_tools ships the well-known types (google/protobuf/*.proto) beside its module.
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={OUT}",
            f"--grpc_python_out={OUT}",
            f"--pyi_out={OUT}",
            *sources,
        ]
    )
    if code != 0:
        print(f"protoc failed with exit code {code}", file=sys.stderr)
        return code
    # The stubs import each other as `colloquy.common.v1...`; regular packages keep that
    # name from resolving to some other `colloquy` namespace package on sys.path.
    for directory in [OUT, *(p for p in OUT.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    print(f"generated {len(sources)} proto files into {OUT.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
