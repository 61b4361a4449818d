#!/usr/bin/env python3
"""Validates pipelines against `ballista schema` with an independent JSON Schema
implementation (Debian's python3-jsonschema; YAML read by python3-yaml).

Usage: schema_check.py SCHEMA.json PIPELINE.yaml...
Prints "schema ok" once the schema itself is valid draft 2020-12, then one line per
pipeline: "ok FILE" or "invalid FILE: PATH: MESSAGE" for its first error.
"""
import json
import sys

import jsonschema
import yaml


def main(argv):
    with open(argv[1], encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    print("schema ok")
    validator = jsonschema.Draft202012Validator(schema)
    for name in argv[2:]:
        with open(name, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if not errors:
            print("ok", name)
            continue
        # The deepest error says most about where the document goes wrong.
        error = max(errors, key=lambda e: len(e.absolute_path))
        while error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        path = "/".join(str(part) for part in error.absolute_path)
        print(f"invalid {name}: {path}: {error.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
