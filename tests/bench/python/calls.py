"""Counts the AWS requests botocore sends (every attempt), as the Rust functions report
`aws_calls`."""

CALLS = [0]


def count(client):
    client.meta.events.register("before-send", _sent)
    return client


def _sent(**_):
    CALLS[0] += 1
