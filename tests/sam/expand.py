"""Expands template.yaml with SAM's own translator, offline, and prints the CloudFormation JSON.

Local CodeUri values become an S3 placeholder (sam build would upload them), the region is
pinned, and the managed-policy loader is a stub: the template names no SAM policy templates
that need AWS. Usage: python expand.py template.yaml
"""

import json
import os
import sys

import boto3
from samtranslator.public.translator import ManagedPolicyLoader  # noqa: F401 (API check)
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicies:
    """What SAM asks of IAM: ARNs of AWS managed policies, by name."""

    def load(self):
        return {
            "AWSLambdaBasicExecutionRole":
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        }


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    boto3.setup_default_session(region_name="us-east-1")
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(
            props.get("CodeUri"), str
        ):
            props["CodeUri"] = "s3://placeholder/code.zip"
    expanded = transform(template, {}, OfflinePolicies())
    json.dump(expanded, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
