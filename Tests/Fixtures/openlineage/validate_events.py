#!/usr/bin/env python3
"""Validates OpenLineage events (one JSON object per line) against the OpenLineage 2-0-2 JSON Schema.

    validate_events.py SPEC_DIR EVENTS.jsonl

SPEC_DIR holds OpenLineage.json and the facet schemas (their $id is their canonical URL; $refs between
them resolve through a referencing.Registry). Each event is checked against OpenLineage.json, and each
facet against its own facet schema, with format checks (uuid, date-time, uri). Prints one line per problem
and exits 1 if there is any; prints the number of events checked otherwise.
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

spec_dir = pathlib.Path(sys.argv[1])
schemas = {}
for path in sorted(spec_dir.glob("*.json")):
    document = json.loads(path.read_text())
    if "$id" in document:
        schemas[path.stem] = document
registry = Registry().with_resources(
    (document["$id"], Resource.from_contents(document)) for document in schemas.values()
)
Validator = jsonschema.Draft202012Validator
checker = Validator.FORMAT_CHECKER
event_validator = Validator(schemas["OpenLineage"], registry=registry, format_checker=checker)
# A facet's schema describes an object holding the facet under its key (`{"version": {...}}`).
facet_schemas = {}
for name, document in schemas.items():
    for key in document.get("properties", {}):
        facet_schemas[key] = Validator(document, registry=registry, format_checker=checker)

problems = []
count = 0
for number, line in enumerate(pathlib.Path(sys.argv[2]).read_text().splitlines(), 1):
    if not line.strip():
        continue
    count += 1
    event = json.loads(line)
    for error in event_validator.iter_errors(event):
        problems.append(f"event {number}: {error.message} at {list(error.absolute_path)}")
    facet_groups = [event.get("run", {}).get("facets", {}), event.get("job", {}).get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        facet_groups.append(dataset.get("facets", {}))
    for facets in facet_groups:
        for key, facet in (facets or {}).items():
            validator = facet_schemas.get(key)
            if validator is None:
                problems.append(f"event {number}: facet '{key}' has no schema in {spec_dir}")
                continue
            for error in validator.iter_errors({key: facet}):
                problems.append(f"event {number}: facet {key}: {error.message}")
for problem in problems:
    print(problem)
if problems:
    sys.exit(1)
print(f"{count} events valid")
