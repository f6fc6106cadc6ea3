import pytest
from django.contrib.auth.models import User


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The default hasher is slow on purpose; these tests check many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw-secret-1")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw-secret-1")


@pytest.fixture
def charlie(db):
    return User.objects.create_user("charlie", password="pw-secret-1")
