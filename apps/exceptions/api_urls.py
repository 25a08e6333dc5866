from django.urls import path

from apps.exceptions import api

app_name = "exceptions-api"

urlpatterns = [
    path("exceptions", api.ExceptionListApi.as_view(), name="list"),
    path("exceptions/request", api.ExceptionRequestApi.as_view(), name="request"),
    path("exceptions/inbox", api.ExceptionInboxApi.as_view(), name="inbox"),
    path("exceptions/policy", api.TierPolicyApi.as_view(), name="policy"),
    path("exceptions/<int:pk>", api.ExceptionDetailApi.as_view(), name="detail"),
    path("exceptions/<int:pk>/update", api.ExceptionUpdateApi.as_view(), name="update"),
    path("exceptions/<int:pk>/submit", api.ExceptionSubmitApi.as_view(), name="submit"),
    path("exceptions/<int:pk>/approve", api.ExceptionApproveApi.as_view(), name="approve"),
    path("exceptions/<int:pk>/reject", api.ExceptionRejectApi.as_view(), name="reject"),
    path("exceptions/<int:pk>/revoke", api.ExceptionRevokeApi.as_view(), name="revoke"),
    path("exceptions/<int:pk>/renew", api.ExceptionRenewApi.as_view(), name="renew"),
]
