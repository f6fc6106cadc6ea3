import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import do_add_member, do_create_team


@pytest.fixture(autouse=True)
def registry_env(settings, tmp_path):
    settings.DOCKYARD_ROOT = tmp_path
    settings.ROOT_URLCONF = "registry_app.urls"
    settings.ALLOWED_HOSTS = ["*"]
    # The default hasher is slow on purpose; every request here checks a password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin(db):
    return User.objects.create_superuser("root", password="pw-secret-1")


@pytest.fixture
def acme(alice, bob):
    team = do_create_team("acme", alice)
    do_add_member(team, bob, "write")
    return team


@pytest.fixture
def client() -> Client:
    return Client()
