"""Parse a Prometheus text exposition with the reference parser (prometheus_client).

usage: parse_metrics.py < exposition.txt
Prints one JSON object: {"families": {name: type}, "samples": [[name, labels, value], ...]}.
Exits non-zero if the parser refuses the text or a family is declared twice — what a
Prometheus server scraping edgeauth would trip over.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
families = {}
samples = []
for family in text_string_to_metric_families(text):
    if family.name in families:
        sys.exit(f"family {family.name} declared twice")
    families[family.name] = family.type
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"families": families, "samples": samples}))
