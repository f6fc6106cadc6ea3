import pytest


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The default hasher is slow on purpose; these tests check many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
