"""The provisioner's Custom::Repository Create in Python (what a crhelper function would do):
DescribeRepositories (adopt one of this stack's), CreateRepository with the ownership tags,
then the answer PUT to the presigned ResponseURL."""

import json
import urllib.request

import boto3

from calls import CALLS, count

ecr = count(boto3.client("ecr"))


def tag(key, value):
    return {"Key": key, "Value": value}


def create(event):
    props = event["ResourceProperties"]
    name = props["RepositoryName"]
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        return found, "adopted"
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    made = ecr.create_repository(
        repositoryName=name,
        imageTagMutability=props.get("ImageTagMutability", "MUTABLE"),
        imageScanningConfiguration={"scanOnPush": props.get("ScanOnPush", "true") == "true"},
        tags=[
            tag("skyhigh:stack-id", event["StackId"]),
            tag("skyhigh:logical-id", event["LogicalResourceId"]),
            tag("skyhigh:keep-images", props.get("KeepImages", "10")),
        ],
    )["repository"]
    return made, None


def answer(event, status, physical_id, data, reason):
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or "",
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    urllib.request.urlopen(request, timeout=10).read()


def handler(event, context):
    before = CALLS[0]
    try:
        repo, reason = create(event)
        status, physical_id = "SUCCESS", repo["repositoryName"]
        data = {
            "RepositoryName": repo["repositoryName"],
            "RepositoryArn": repo["repositoryArn"],
            "RepositoryUri": repo["repositoryUri"],
        }
    except Exception as e:  # noqa: BLE001 - CloudFormation must always get an answer
        status, physical_id, data, reason = "FAILED", "not-created", {}, str(e)
    answer(event, status, physical_id, data, reason)
    return {"Status": status, "PhysicalResourceId": physical_id, "aws_calls": CALLS[0] - before}
