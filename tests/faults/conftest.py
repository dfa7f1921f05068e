"""The fault-injection suite runs against the same kind of real Kafka and Redis as the
integration tests (``tests.integration.conftest``): its fixtures, shared here."""

from tests.integration.conftest import services  # noqa: F401  (a fixture, found by pytest here)
