"""What an app is told: documented variable names, URLs, template values, secret files."""

from __future__ import annotations

from urllib.parse import urlsplit

from cloudos.addons import (
    AddonNames,
    Credentials,
    app_server,
    context_values,
    credential_files,
    credentials_env,
    credentials_for,
    space_server,
)

NAMES = AddonNames(database="blog_0123456789ab", user="blog_0123456789ab")
PASSWORD = "S3cretS3cretS3cretS3cret"
MYSQL = space_server(instance="cloudos", space="default", kind="mysql")
POSTGRES = space_server(instance="cloudos", space="default", kind="postgresql")
REDIS = space_server(instance="cloudos", space="default", kind="redis")
REDIS_APP = app_server(instance="cloudos", app_id=3, app_name="cache", kind="redis")


def test_mysql_environment() -> None:
    env = credentials_env(credentials_for(MYSQL, NAMES, PASSWORD))
    assert env == {
        "MYSQL_HOST": "cloudos--default--mysql_server",
        "MYSQL_PORT": "3306",
        "MYSQL_DATABASE": "blog_0123456789ab",
        "MYSQL_USER": "blog_0123456789ab",
        "MYSQL_PASSWORD": PASSWORD,
        "MYSQL_URL": f"mysql://blog_0123456789ab:{PASSWORD}@cloudos--default--mysql_server:3306/"
        "blog_0123456789ab",
    }


def test_postgresql_environment() -> None:
    env = credentials_env(credentials_for(POSTGRES, NAMES, PASSWORD))
    assert sorted(env) == [
        "DATABASE_URL",
        "POSTGRES_DB",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD",
        "POSTGRES_PORT",
        "POSTGRES_USER",
    ]
    assert env["DATABASE_URL"] == (
        f"postgresql://blog_0123456789ab:{PASSWORD}@cloudos--default--postgresql_server:5432/"
        "blog_0123456789ab"
    )


def test_redis_environment_on_a_shared_and_a_dedicated_server() -> None:
    shared = credentials_env(credentials_for(REDIS, NAMES, PASSWORD))
    assert shared["REDIS_URL"] == (
        f"redis://blog_0123456789ab:{PASSWORD}@cloudos--default--redis_server:6379/0"
    )
    assert shared["REDIS_KEY_PREFIX"] == "blog_0123456789ab:"
    assert shared["REDIS_PORT"] == "6379"
    dedicated = credentials_env(credentials_for(REDIS_APP, NAMES, PASSWORD))
    assert "REDIS_KEY_PREFIX" not in dedicated
    assert dedicated["REDIS_HOST"] == "cloudos--3-cache--redis-app_server"


def test_urls_encode_what_would_break_them() -> None:
    odd = Credentials(
        kind="postgresql", host="h", port=5432, database="d b", user="u@x", password="p:/@?#%"
    )
    parts = urlsplit(odd.url)
    assert parts.hostname == "h"
    assert parts.port == 5432
    assert odd.url == "postgresql://u%40x:p%3A%2F%40%3F%23%25@h:5432/d%20b"


def test_template_values() -> None:
    values = context_values(credentials_for(MYSQL, NAMES, PASSWORD))
    assert values["addons.mysql.password"] == PASSWORD
    assert values["addons.mysql.port"] == 3306
    assert sorted(values) == [
        f"addons.mysql.{key}" for key in ("database", "host", "password", "port", "url", "user")
    ]
    assert context_values(credentials_for(REDIS, NAMES, PASSWORD))["addons.redis.prefix"] == (
        "blog_0123456789ab:"
    )


def test_secret_files_hold_what_contains_the_password() -> None:
    files = credential_files(credentials_for(POSTGRES, NAMES, PASSWORD))
    assert sorted(files) == ["DATABASE_URL", "POSTGRES_PASSWORD"]
    assert all(PASSWORD in value for value in files.values())
