"""Figure dicts of the overview page stay readable at the sizes a large organisation has."""

from apps.dashboard.charts import systems_by_risk_tier


def test_the_risk_tier_chart_has_about_six_ticks_whatever_the_number_of_systems():
    assert systems_by_risk_tier({"low": 2, "medium": 3})["layout"]["yaxis"]["dtick"] == 1
    many = systems_by_risk_tier({"low": 60, "medium": 80, "high": 44, "critical": 16})
    assert 80 / many["layout"]["yaxis"]["dtick"] <= 6
    assert many["data"][0]["y"] == [60, 80, 44, 16]
