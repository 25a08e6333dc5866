from apps.dashboard.navigation import navigation_links


def navigation(request):
    """The navigation entries of the signed-in user's roles, and the active one."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    entries = navigation_links(user)
    return {"nav_entries": entries}
