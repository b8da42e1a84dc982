"""Invoke ``examples/lambda_function.py`` locally, as Lambda would, and print what it emitted.

Run it with ``python examples/invoke_lambda.py [EVENT_FILE]`` (default:
``examples/events/apigw_v2.json``). The environment variables below are the ones Lambda sets;
the context object has the attributes Lambda's has. Telemetry is captured in memory with
``obskit.testing.capture()`` and printed: JSON log lines, EMF documents and spans, exactly as
they would have been written, then the response API Gateway would get.
"""

import json
import os
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent

# What the Lambda runtime sets before it imports your module.
os.environ.update({
    "AWS_LAMBDA_FUNCTION_NAME": "orders",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_REGION": "eu-west-1",
    "LAMBDA_TASK_ROOT": str(HERE),
})
sys.path.insert(0, str(HERE))

import lambda_function  # noqa: E402  (after the environment, as in Lambda)
from obskit.testing import capture  # noqa: E402


class FakeContext:
    """The attributes and the method of Lambda's context object."""

    function_name = "orders"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111111111111:function:orders"
    memory_limit_in_mb = 256
    log_group_name = "/aws/lambda/orders"
    log_stream_name = "2024/11/26/[$LATEST]0123456789abcdef"

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: list[str]) -> int:
    event_file = Path(argv[0]) if argv else HERE / "events" / "apigw_v2.json"
    event = json.loads(event_file.read_text())
    with capture() as cap:
        response = lambda_function.handler(event, FakeContext())
    for title, items in (("log lines", cap.logs), ("EMF documents", cap.metrics), ("spans", cap.spans)):
        print(f"--- {title} ({len(items)})")
        for item in items:
            print(json.dumps(item, default=str))
    print("--- response")
    print(json.dumps(response))
    return 0 if isinstance(response, dict) and response.get("statusCode") == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
