"""Entry point for AWS Lambda: ``generator.lambda_handler.handler`` (the code lives in ``web/``)."""

from generator.web.lambda_adapter import handler

__all__ = ["handler"]
