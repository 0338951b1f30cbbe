"""checkov on template.yaml and on the template SAM's translator expands it to (offline).

Fails on any failed check, and on any skip in a resource's Metadata that has no comment or
that no check used (a stale or misspelt id). Run by scripts/scan-template.sh with .venv's
Python (cfn-lint's YAML loader, samtranslator); checkov runs from .venv-scan.
Usage: python scripts/scan_template.py template.yaml
"""

import json
import os
import subprocess
import sys
import tempfile

from cfnlint.decode import cfn_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKOV = os.path.join(ROOT, ".venv-scan", "bin", "checkov")


def checkov(path):
    """checkov's JSON report of one CloudFormation file, offline."""
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE")
    out = subprocess.run(
        [CHECKOV, "--file", path, "--framework", "cloudformation", "--skip-download",
         "--output", "json"],
        env=env, capture_output=True, text=True, check=False,
    )
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.exit(f"checkov gave no report for {path}:\n{out.stdout}\n{out.stderr}")
    # An empty report (no resource checked) is a list; a template is never that.
    if not isinstance(report, dict):
        sys.exit(f"checkov checked nothing in {path}: {report}")
    return report


def declared_skips(template):
    """(logical id, check id, comment) of every Metadata checkov skip."""
    for logical_id, resource in template.get("Resources", {}).items():
        skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
        for skip in skips:
            yield logical_id, str(skip.get("id", "")), str(skip.get("comment", "")).strip()


def main(path):
    template = cfn_yaml.load(path)
    with tempfile.TemporaryDirectory() as tmp:
        expanded = os.path.join(tmp, "template.expanded.json")
        with open(expanded, "w", encoding="utf-8") as f:
            subprocess.run(
                [sys.executable, os.path.join(ROOT, "tests", "sam", "expand.py"), path],
                stdout=f, check=True,
            )
        reports = {os.path.basename(path): checkov(path), "expanded by SAM": checkov(expanded)}

    problems = []
    used = set()
    for name, report in reports.items():
        summary = report["summary"]
        print(f"checkov, {name}: {summary['passed']} passed, {summary['failed']} failed, "
              f"{summary['skipped']} skipped (each with its reason in the resource's Metadata)")
        for check in report["results"]["failed_checks"]:
            problems.append(f"{name}: {check['check_id']} {check['resource']}: {check['check_name']}"
                            f" ({check.get('guideline') or 'no guideline'})")
        for check in report["results"]["skipped_checks"]:
            used.add((check["resource"].split(".", 1)[-1], check["check_id"]))
        for error in report["results"]["parsing_errors"]:
            problems.append(f"{name}: checkov could not parse {error}")

    for logical_id, check_id, comment in declared_skips(template):
        if not comment:
            problems.append(f"{logical_id}: the skip of {check_id or '(no id)'} gives no comment")
        if (logical_id, check_id) not in used:
            problems.append(f"{logical_id}: the skip of {check_id} matches no check (stale or misspelt)")

    for p in problems:
        print(p)
    if problems:
        sys.exit(f"checkov: {len(problems)} problem(s)")


if __name__ == "__main__":
    main(sys.argv[1])
