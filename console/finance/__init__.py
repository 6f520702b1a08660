"""Dealer finance (issue 19): credit lines from credit grades, order loans against the
certificate of conformity, VIP membership. Services here are free of Streamlit; the schema is
``fin`` (migration 096)."""
