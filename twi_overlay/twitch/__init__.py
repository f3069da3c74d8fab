"""Twitch, the neighbour we call: the OAuth and Helix client (client.py), sign-in routes (oauth.py),
the durable status-update worker (helix_worker.py), EventSub subscription reconcile
(subscriptions.py) and the catch-up on redemptions made while we were away (catchup.py)."""
