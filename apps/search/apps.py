from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "apps.search"
    label = "search"
    verbose_name = "Search"

    def ready(self):
        from apps.pipeline import pipeline_step_register
        from apps.search import targets  # noqa: F401 - registers the built-in search targets
        from apps.search.content import evidence_content_index

        # The words inside new evidence are indexed in the transaction that records it.
        pipeline_step_register(
            "search.index",
            lambda *, receipt, evidence, body: evidence_content_index(evidence_ids=[e.pk for e in evidence]),
        )
