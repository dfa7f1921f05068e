"""The case store: fraud officers' cases in PostgreSQL, projected from the alerts, holds, police
and audit topics (``project``), queried by the console's queue (``queue``), and changed only
through the officers' commands (``workflow``), whose audit records the projection applies."""
