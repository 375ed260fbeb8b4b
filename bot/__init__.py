"""policybot: grounded answers about Jiangsu HRSS policy notices.

Pipeline, one module per stage: ingest -> index -> retrieve -> answer -> api/cli.
Nothing heavy happens at import time; models and indexes load in the app lifespan or CLI command.
"""

__version__ = "0.1.0"
