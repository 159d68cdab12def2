"""Sign-in throttling: guessers are stopped, and nobody can lock someone else out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from cloudos.identity import clear_lockout, create_user
from cloudos.identity._signin import (
    ACCOUNT_MAX_FAILURES,
    ADDRESS_MAX_FAILURES,
    KNOWN_ADDRESS_LIFETIME,
    KNOWN_ADDRESSES_PER_USER,
    LOCKOUT,
    PAIR_MAX_FAILURES,
    REFUSED,
    SignInRefused,
    sign_in,
)
from cloudos.store import Database, utcnow
from cloudos.store.models import KnownAddress, User
from cloudos.vault import Vault

PASSWORD = "correct horse battery"
VAULT = Vault(Fernet.generate_key())


def attempt(database: Database, username: str, password: str, address: str, now: datetime) -> bool:
    """Whether ``username`` gets in from ``address`` at ``now``; a refusal is kept."""
    with database.session() as session:
        try:
            sign_in(
                session,
                VAULT,
                username=username,
                password=password,
                code=None,
                address=address,
                now=now,
            )
        except SignInRefused as refused:
            words = str(refused)
            session.commit()
        else:
            return True
    assert words == REFUSED  # the same words, whichever lock refused
    return False


@pytest.fixture
def start(database: Database) -> datetime:
    """The time the tests start at; user ``xena`` has signed in from her home, B."""
    with database.session() as session:
        create_user(session, username="xena", password=PASSWORD)
    now = utcnow()
    assert attempt(database, "xena", PASSWORD, "10.0.0.2", now - timedelta(days=1))
    return now


def test_a_guesser_locks_only_themselves_out_and_not_the_owner(
    database: Database, start: datetime
) -> None:
    for _ in range(PAIR_MAX_FAILURES):
        assert not attempt(database, "xena", "guess", "10.6.6.6", start)
    # The guesser at A is stopped, even with the right password ...
    assert not attempt(database, "xena", PASSWORD, "10.6.6.6", start)
    # ... while the owner, at home (B) or anywhere new, still gets in.
    assert attempt(database, "xena", PASSWORD, "10.0.0.2", start)
    assert attempt(database, "xena", PASSWORD, "10.0.0.3", start)


def test_guessers_at_many_addresses_lock_the_account_but_not_at_its_owners_address(
    database: Database, start: datetime
) -> None:
    for n in range(ACCOUNT_MAX_FAILURES):
        assert not attempt(database, "xena", "guess", f"10.6.6.{n}", start)
    # An address the owner never signed in from is refused the account ...
    assert not attempt(database, "xena", PASSWORD, "10.7.7.7", start)
    # ... the owner at home is not.
    assert attempt(database, "xena", PASSWORD, "10.0.0.2", start)
    # Her success does not reopen the account to the guessers' addresses.
    assert not attempt(database, "xena", PASSWORD, "10.7.7.7", start)


def test_spraying_many_accounts_from_one_address_locks_that_address_for_everyone(
    database: Database, start: datetime
) -> None:
    sprayer = "192.0.2.9"
    for n in range(ADDRESS_MAX_FAILURES - 1):
        assert not attempt(database, f"user{n}", "guess", sprayer, start)
    # Below the limit, an account of the address with its right password gets in.
    assert attempt(database, "xena", PASSWORD, sprayer, start)
    assert not attempt(database, "user-last", "guess", sprayer, start)  # the 50th
    assert not attempt(database, "xena", PASSWORD, sprayer, start)
    assert attempt(database, "xena", PASSWORD, "192.0.2.10", start)


def test_wrong_passwords_of_others_behind_the_same_address_lock_nobody_else_out(
    database: Database, start: datetime
) -> None:
    office = "198.51.100.1"
    with database.session() as session:
        for name in ("ann", "bob"):
            create_user(session, username=name, password=PASSWORD)
    # Ann's and Bob's typos behind the office's one address, well past any account's
    # or pair's limit but below the address's ...
    for _ in range(ACCOUNT_MAX_FAILURES + PAIR_MAX_FAILURES):
        assert not attempt(database, "ann", "typo", office, start)
        assert not attempt(database, "bob", "typo", office, start)
    # ... do not stop Xena, there for the first time.
    assert attempt(database, "xena", PASSWORD, office, start)


def test_locks_expire_after_the_lockout(database: Database, start: datetime) -> None:
    for n in range(ACCOUNT_MAX_FAILURES):
        assert not attempt(database, "xena", "guess", "10.6.6.6" if n % 2 else "10.6.6.7", start)
    for n in range(ADDRESS_MAX_FAILURES):
        assert not attempt(database, f"user{n}", "guess", "10.6.6.6", start)
    later = start + LOCKOUT - timedelta(seconds=1)
    assert not attempt(database, "xena", PASSWORD, "10.6.6.6", later)
    assert not attempt(database, "xena", PASSWORD, "10.7.7.7", later)
    after = later + LOCKOUT + timedelta(seconds=1)  # the lock was renewed at ``later``
    assert attempt(database, "xena", PASSWORD, "10.6.6.6", after)
    assert attempt(database, "xena", PASSWORD, "10.7.7.7", after)


def test_a_known_address_older_than_its_lifetime_no_longer_exempts(
    database: Database, start: datetime
) -> None:
    # Xena signed in from B a day before ``start``; a month later B is just an address.
    month = start - timedelta(days=1) + KNOWN_ADDRESS_LIFETIME + timedelta(minutes=1)
    for n in range(ACCOUNT_MAX_FAILURES):
        assert not attempt(database, "xena", "guess", f"10.6.6.{n}", month)
    assert not attempt(database, "xena", PASSWORD, "10.0.0.2", month)


def test_known_addresses_are_kept_for_the_most_recent_few_only(
    database: Database, start: datetime
) -> None:
    for n in range(KNOWN_ADDRESSES_PER_USER + 5):
        assert attempt(database, "xena", PASSWORD, f"10.1.0.{n}", start + timedelta(seconds=n))
    with database.session() as session:
        xena = session.scalar(select(User).where(User.username == "xena"))
        assert xena is not None
        kept = set(
            session.scalars(select(KnownAddress.address).where(KnownAddress.user_id == xena.id))
        )
    newest = {f"10.1.0.{n}" for n in range(5, KNOWN_ADDRESSES_PER_USER + 5)}
    assert kept == newest
    # The forgotten ones (home, B, among them) no longer spare her the account's lock.
    later = start + timedelta(minutes=1)
    for n in range(ACCOUNT_MAX_FAILURES):
        assert not attempt(database, "xena", "guess", f"10.6.6.{n}", later)
    assert not attempt(database, "xena", PASSWORD, "10.0.0.2", later)
    assert attempt(database, "xena", PASSWORD, "10.1.0.24", later)


def test_clearing_the_lockout_lets_the_account_in_from_every_address_again(
    database: Database, start: datetime
) -> None:
    for n in range(ACCOUNT_MAX_FAILURES):
        assert not attempt(database, "xena", "guess", "10.6.6.6" if n < 5 else "10.6.6.7", start)
    for n in range(ADDRESS_MAX_FAILURES):
        assert not attempt(database, f"user{n}", "guess", "10.5.5.5", start)
    with database.session() as session:
        clear_lockout(session, "Xena")
    for address in ("10.6.6.6", "10.6.6.7", "10.5.5.5", "10.7.7.7"):
        assert attempt(database, "xena", PASSWORD, address, start)
