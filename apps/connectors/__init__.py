"""Pull connectors: one module per source kind, each a `Connector` that fetches what changed.

The sync itself (claim, SyncRun row, receipts, cursor, backoff, ledger) lives in
`apps.connectors.services`; connectors only talk HTTP and build documents.
"""

from __future__ import annotations

from apps.connectors.base import Connector, ConnectorError, Document
from apps.connectors.mlflow import MlflowConnector
from apps.connectors.oci import OciConnector

CONNECTORS: dict[str, type[Connector]] = {
    MlflowConnector.kind: MlflowConnector,
    OciConnector.kind: OciConnector,
}

__all__ = ["CONNECTORS", "Connector", "ConnectorError", "Document", "MlflowConnector", "OciConnector"]
