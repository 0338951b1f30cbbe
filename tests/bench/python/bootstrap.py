"""A Lambda runtime loop for the benchmark's Python functions, as Lambda's Python runtime runs
them: import the function's module (its clients are made at import, the usual Lambda style),
then GET the next event, call `handler(event, context)`, POST its answer; forever.

Usage: python bootstrap.py MODULE (the module next to this file; AWS_LAMBDA_RUNTIME_API set)."""

import importlib
import json
import os
import sys
import time
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers["lambda-runtime-aws-request-id"]
        self.deadline_ms = int(headers.get("lambda-runtime-deadline-ms", "0"))
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")

    def get_remaining_time_in_millis(self):
        return max(0, self.deadline_ms - int(time.time() * 1000))


def post(path, payload):
    request = urllib.request.Request(API + path, data=json.dumps(payload).encode(), method="POST")
    urllib.request.urlopen(request).read()


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        handler = importlib.import_module(sys.argv[1]).handler
    except Exception as e:  # noqa: BLE001 - reported to the Runtime API like Lambda does
        post("/init/error", {"errorMessage": str(e), "errorType": type(e).__name__})
        raise
    while True:
        with urllib.request.urlopen(API + "/invocation/next") as r:
            event = json.loads(r.read())
            context = Context({k.lower(): v for k, v in r.headers.items()})
        try:
            answer = handler(event, context)
            post(f"/invocation/{context.aws_request_id}/response", answer)
        except Exception as e:  # noqa: BLE001
            post(
                f"/invocation/{context.aws_request_id}/error",
                {"errorMessage": str(e), "errorType": type(e).__name__},
            )


if __name__ == "__main__":
    main()
