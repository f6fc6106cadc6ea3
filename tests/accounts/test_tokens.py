from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.errors import InvalidScope
from accounts.models import AccessToken
from accounts.services import (
    authenticate_basic,
    authenticate_secret,
    do_create_token,
    do_revoke_token,
)


@pytest.mark.django_db
def test_it_shows_the_secret_once_and_keeps_only_a_hash(alice):
    token, secret = do_create_token(alice, "laptop", ["write", "read"])
    stored = AccessToken.objects.get(pk=token.pk)
    assert secret not in (stored.secret_hash, stored.key)
    assert secret.startswith("dyp_")
    assert stored.scopes == ["read", "write"]
    assert authenticate_secret(secret) == alice
    assert AccessToken.objects.get(pk=token.pk).last_used is not None


@pytest.mark.django_db
def test_it_refuses_revoked_expired_and_altered_secrets(alice):
    token, secret = do_create_token(alice, "ci", ["read"])
    assert authenticate_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert authenticate_secret("dyp_" + "0" * 40) is None
    assert authenticate_secret("") is None
    do_revoke_token(token)
    assert authenticate_secret(secret) is None
    _, expired = do_create_token(alice, "old", ["read"], expires=timezone.now() - timedelta(1))
    assert authenticate_secret(expired) is None


@pytest.mark.django_db
def test_it_refuses_secrets_of_deactivated_users(alice):
    _, secret = do_create_token(alice, "ci", ["read"])
    alice.is_active = False
    alice.save()
    assert authenticate_secret(secret) is None


@pytest.mark.django_db
def test_it_refuses_unknown_scopes(alice):
    for scopes in (["root"], [], ["read", "sudo"]):
        with pytest.raises(InvalidScope):
            do_create_token(alice, "x", scopes)


@pytest.mark.django_db
def test_it_checks_passwords_and_tokens_of_the_named_user_only(alice, charlie):
    _, secret = do_create_token(alice, "ci", ["read"])
    assert authenticate_basic("alice", "pw-secret-1") == alice
    assert authenticate_basic("alice", secret) == alice
    assert authenticate_basic("charlie", secret) is None
    assert authenticate_basic("alice", "wrong") is None
    assert authenticate_basic("nobody", "pw-secret-1") is None
