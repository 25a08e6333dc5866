from django.urls import path

from apps.ledger import api

app_name = "ledger-api"

urlpatterns = [
    path("ledger/checkpoints", api.LedgerCheckpointListApi.as_view(), name="checkpoints"),
    path("ledger/consistency", api.LedgerConsistencyApi.as_view(), name="consistency"),
    path("ledger/entries", api.LedgerEntryExportApi.as_view(), name="entries"),
]
