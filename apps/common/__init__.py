"""Plain helpers every app may use: the bottom of the layers. No models, not a Django app.

- states.py: the one state-machine helper (StateMachine) and its one InvalidTransition.
- policy_files.py: the one loader of the TOML policy files (exception tiers, releases, retention).
"""
