"""``shiptrack``: the command-line client of shiptrack's HTTP API (docs/cli.md).

It speaks only HTTP to the public API (``docs/api.md``) and, for ``events tail``, SQS to the local stack's moto;
it never imports the Lambda layer. Modules that pull in ``requests``, ``rich`` or ``boto3`` are imported by the
command that needs them, so ``shiptrack --help`` stays fast.
"""

__version__ = "0.1.0"
