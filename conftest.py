"""pytest configuration shared by the unit tests and the nbval notebook tests."""


def pytest_collectstart(collector):
    """Notebooks: compare stdout and results strictly, but not stderr (library warnings vary)."""
    if collector.path is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare += ("stderr",)
