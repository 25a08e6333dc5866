from django.apps import AppConfig


class ScaleConfig(AppConfig):
    name = "apps.scale"
    label = "scale"
    verbose_name = "Scale data generator"
