"""Checkout shim: the configuration lives in `consentapp.config`."""

from consentapp.config import (
    Config,
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    TestingConfig,
    load_config,
    normalise_database_url,
)

__all__ = [
    "Config",
    "ConfigError",
    "DevelopmentConfig",
    "ProductionConfig",
    "TestingConfig",
    "load_config",
    "normalise_database_url",
]
