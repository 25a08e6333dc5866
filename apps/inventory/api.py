from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from apps.inventory.models import System
from apps.inventory.selectors import system_get_for_user, system_list_for_user


class SystemOutput(serializers.ModelSerializer):
    environments = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    risk_owners = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")
    engineering_owners = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")

    class Meta:
        model = System
        fields = [
            "slug", "name", "kind", "description", "risk_tier", "data_classes", "frameworks",
            "environments", "risk_owners", "engineering_owners", "created_at", "updated_at",
        ]


@extend_schema(tags=["inventory"])
class SystemListApi(generics.ListAPIView):
    """Systems under governance that the caller may see."""

    serializer_class = SystemOutput
    filterset_fields = ["risk_tier", "kind"]

    def get_queryset(self):
        return system_list_for_user(user=self.request.user)


@extend_schema(tags=["inventory"])
class SystemDetailApi(generics.RetrieveAPIView):
    """One system by slug."""

    serializer_class = SystemOutput

    def get_object(self):
        return system_get_for_user(user=self.request.user, slug=self.kwargs["slug"])
