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
from obskit.testing import LambdaContext, capture  # noqa: E402


def main(argv: list[str]) -> int:
    event_file = Path(argv[0]) if argv else HERE / "events" / "apigw_v2.json"
    event = json.loads(event_file.read_text())
    with capture() as cap:
        response = lambda_function.handler(event, LambdaContext("orders"))
    for title, items in (("log lines", cap.logs), ("EMF documents", cap.metrics), ("spans", cap.spans)):
        print(f"--- {title} ({len(items)})")
        for item in items:
            print(json.dumps(item, default=str))
    print("--- response")
    print(json.dumps(response))
    return 0 if isinstance(response, dict) and response.get("statusCode") == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
