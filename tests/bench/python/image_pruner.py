"""The image pruner's scheduled prune, in Python: every image (DescribeImages, paged), what the
service uses (DescribeServices, ListTasks, DescribeTasks, DescribeTaskDefinition), the family's
rollback revisions (ListTaskDefinitions, DescribeTaskDefinition), then BatchDeleteImage of
what is neither in use nor among the newest KEEP_IMAGES, and the run's record (TagResource)."""

import os
import time

import boto3

from calls import CALLS, count

ecr = count(boto3.client("ecr"))
ecs = count(boto3.client("ecs"))
CLUSTER = os.environ["CLUSTER_NAME"]
SERVICE = os.environ["SERVICE_NAME"]
REPOSITORY = os.environ["REPOSITORY_NAME"]
KEEP = int(os.environ.get("KEEP_IMAGES", "10"))
ROLLBACK = int(os.environ.get("KEEP_ROLLBACK_REVISIONS", "3"))


def digests_of(task_definition, tag_digests):
    named = set()
    for c in task_definition["containerDefinitions"]:
        image = c["image"]
        if "@" in image:
            named.add(image.split("@", 1)[1])
        elif image.rsplit("/", 1)[-1].count(":"):
            named.add(tag_digests.get(image.rsplit(":", 1)[1], ""))
    return named


def handler(event, context):
    before = CALLS[0]
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    images = [
        i
        for page in ecr.get_paginator("describe_images").paginate(repositoryName=REPOSITORY)
        for i in page["imageDetails"]
    ]
    tag_digests = {t: i["imageDigest"] for i in images for t in i.get("imageTags", [])}
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    in_use = set()
    definitions = {d["taskDefinition"] for d in service.get("deployments", [])}
    definitions.add(service["taskDefinition"])
    tasks = [
        t
        for page in ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, serviceName=SERVICE)
        for t in page["taskArns"]
    ]
    if tasks:
        for t in ecs.describe_tasks(cluster=CLUSTER, tasks=tasks[:100])["tasks"]:
            definitions.add(t["taskDefinitionArn"])
            in_use.update(c.get("imageDigest", "") for c in t.get("containers", []))
    family = None
    for arn in sorted(definitions):
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        family = td["family"]
        in_use |= digests_of(td, tag_digests)
    if family:
        listed = ecs.list_task_definitions(familyPrefix=family, sort="DESC", maxResults=ROLLBACK + 1)
        for arn in listed["taskDefinitionArns"]:
            if arn not in definitions:
                td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
                in_use |= digests_of(td, tag_digests)
    tagged = sorted(
        (i for i in images if i.get("imageTags")),
        key=lambda i: (i["imagePushedAt"], i["imageDigest"]),
        reverse=True,
    )
    keep = in_use | {i["imageDigest"] for i in tagged[:KEEP]}
    doomed = [i["imageDigest"] for i in tagged[KEEP:] if i["imageDigest"] not in keep]
    deleted = 0
    for start in range(0, len(doomed), 100):
        out = ecr.batch_delete_image(
            repositoryName=REPOSITORY,
            imageIds=[{"imageDigest": d} for d in doomed[start : start + 100]],
        )
        deleted += len(out["imageIds"])
    _, partition, _, region, account, _ = context.invoked_function_arn.split(":", 5)
    arn = f"arn:{partition}:ecr:{region}:{account}:repository/{REPOSITORY}"
    ecr.tag_resource(
        resourceArn=arn, tags=[{"Key": "skyhigh:image-pruner:last-run-started", "Value": started}]
    )
    return {
        "decision": "pruned",
        "seen": len(images),
        "deleted": deleted,
        "aws_calls": CALLS[0] - before,
    }
