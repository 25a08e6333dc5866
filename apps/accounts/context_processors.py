from apps.accounts.notifications import notification_unread_count


def notifications(request):
    """How many unread notifications the signed-in user has (the top bar shows it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": notification_unread_count(user=user)}
