from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "apps.search"
    label = "search"
    verbose_name = "Search"

    def ready(self):
        from apps.pipeline import pipeline_step_register
        from apps.search import targets  # noqa: F401 - registers the built-in search targets
        from apps.search.content import evidence_search_index_schedule

        # The words inside new evidence are indexed by a task queued after the parse commits (issue 25:
        # inside the parse it cost more than the parse, and its failure rolled back the evidence).
        pipeline_step_register(
            "search.index",
            lambda *, receipt, evidence, body: evidence_search_index_schedule(evidence_ids=[e.pk for e in evidence]),
        )
