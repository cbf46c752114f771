"""Shared test set-up. The gateway fixtures (`fake_gateway`, `fake_gateway_session`) come from
the `cn_llm_client.testing.pytest_plugin`, registered through the pytest11 entry point."""
