"""The autoscaler's alarm that scales, in Python: the service (DescribeServices with its
tags), its scalable target (DescribeScalableTargets), the alarms in ALARM (DescribeAlarms),
target tracking's last change (DescribeScalingActivities), then the record (TagResource),
the new count (UpdateService) and the finished record (TagResource)."""

import math
import os
import time

import boto3
import botocore.model

from calls import CALLS, count

ecs = count(boto3.client("ecs"))
scaling = count(boto3.client("application-autoscaling"))
# The Rust SDK speaks Smithy RPC v2 CBOR to CloudWatch (and the local stand-in for its alarms
# answers that); botocore prefers JSON when a service offers both: CBOR first for this client.
_ORDER = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("smithy-rpc-v2-cbor",) + _ORDER
cloudwatch = count(boto3.client("cloudwatch"))
botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = _ORDER
CLUSTER = os.environ["CLUSTER_NAME"]
SERVICE = os.environ["SERVICE_NAME"]
RESOURCE = f"service/{CLUSTER}/{SERVICE}"
CPU_TARGET = float(os.environ.get("CPU_TARGET_PERCENT", "70"))


def mine(alarm):
    dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
    return dims.get("ClusterName") == CLUSTER and dims.get("ServiceName") == SERVICE


def handler(event, context):
    before = CALLS[0]
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE], include=["TAGS"])
    service = service["services"][0]
    target = scaling.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[RESOURCE], ScalableDimension="ecs:service:DesiredCount"
    )["ScalableTargets"][0]
    listed = [
        a
        for page in cloudwatch.get_paginator("describe_alarms").paginate(StateValue="ALARM")
        for a in page["MetricAlarms"]
    ]
    alarms = [a for a in listed if mine(a) and a.get("ComparisonOperator", "").startswith("Greater")]
    desired = service["desiredCount"]
    if not alarms or desired >= target["MaxCapacity"]:
        return {"decision": "nothing", "alarms_in_alarm": len(listed), "aws_calls": CALLS[0] - before}
    scaling.describe_scaling_activities(
        ServiceNamespace="ecs", ResourceId=RESOURCE, ScalableDimension="ecs:service:DesiredCount"
    )
    to = min(target["MaxCapacity"], max(desired + 1, math.ceil(desired * 93.5 / CPU_TARGET)))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = f"from={desired} to={to} at={now} state="
    arn = service["serviceArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "skyhigh:autoscaler:record", "value": record + "pending"}])
    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=to)
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "skyhigh:autoscaler:record", "value": record + "done"}])
    return {"decision": {"action": "scale_out", "from": desired, "to": to}, "aws_calls": CALLS[0] - before}
