"""The redeployer's push rolled out, in Python: the digest the tracked tag points to
(DescribeImages), what the service runs (DescribeServices, DescribeTaskDefinition), the
family's newest revisions (ListTaskDefinitions), a revision pinned to the new digest
(RegisterTaskDefinition), the roll (UpdateService) and its record (TagResource)."""

import os

import boto3

from calls import CALLS, count

ecr = count(boto3.client("ecr"))
ecs = count(boto3.client("ecs"))
CLUSTER = os.environ["CLUSTER_NAME"]
SERVICE = os.environ["SERVICE_NAME"]
REPOSITORY = os.environ["REPOSITORY_NAME"]
TAG = os.environ.get("IMAGE_TAG", "latest")

# What RegisterTaskDefinition accepts of a described revision.
REGISTER_KEYS = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
    "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
    "pidMode", "ipcMode", "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage",
    "runtimePlatform",
)


def handler(event, context):
    before = CALLS[0]
    detail = event.get("detail", {})
    if event.get("source") == "aws.ecr" and detail.get("repository-name") != REPOSITORY:
        return {"decision": "ignored", "aws_calls": 0}
    image = ecr.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": TAG}])
    digest = image["imageDetails"][0]["imageDigest"]
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE], include=["TAGS"])
    service = service["services"][0]
    running = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    running = running["taskDefinition"]
    container = next(
        c for c in running["containerDefinitions"] if REPOSITORY in c["image"].split("@")[0]
    )
    pinned = container["image"].split("@")[0].split(":")[0] + "@" + digest
    if container["image"] == pinned:
        return {"decision": "nothing", "aws_calls": CALLS[0] - before}
    ecs.list_task_definitions(familyPrefix=running["family"], sort="DESC", maxResults=5)
    spec = {k: running[k] for k in REGISTER_KEYS if k in running}
    spec["containerDefinitions"] = [
        dict(c, image=pinned) if c is container else c for c in running["containerDefinitions"]
    ]
    registered = ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=registered)
    ecs.tag_resource(
        resourceArn=service["serviceArn"],
        tags=[
            {"key": "skyhigh:redeployer:rolled-onto", "value": registered.rsplit("/", 1)[1]},
            {"key": "skyhigh:redeployer:rolled-from", "value": running["taskDefinitionArn"].rsplit("/", 1)[1]},
        ],
    )
    return {
        "decision": "deployed",
        "tag_digest": digest,
        "task_definition": registered,
        "aws_calls": CALLS[0] - before,
    }
