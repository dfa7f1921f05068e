"""Operations tooling: the Grafana dashboard generator, a local Prometheus for tests and `make ops`."""
