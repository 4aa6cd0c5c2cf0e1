"""``python -m schemas [DIR]``: regenerate the JSON Schema files (default ``schemas/jsonschema``)."""

import sys
from pathlib import Path

from schemas.export import DEFAULT_DIR, export_json_schemas

target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
for path in export_json_schemas(target):
    print(path)
