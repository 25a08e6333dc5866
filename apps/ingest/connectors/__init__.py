"""Pull connectors: one module per source kind, each a `Connector` that fetches what changed.

The sync itself (claim, SyncRun row, receipts, cursor, backoff, ledger) lives in
`apps.ingest.connectors.services`; connectors only talk HTTP and build documents.
"""

from __future__ import annotations

from apps.ingest.connectors.base import Connector, ConnectorError, Document
from apps.ingest.connectors.mlflow import MlflowConnector
from apps.ingest.connectors.oci import OciConnector

CONNECTORS: dict[str, type[Connector]] = {
    MlflowConnector.kind: MlflowConnector,
    OciConnector.kind: OciConnector,
}

__all__ = ["CONNECTORS", "Connector", "ConnectorError", "Document", "MlflowConnector", "OciConnector"]
