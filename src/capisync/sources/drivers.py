"""Which SQLAlchemy dialect and driver each warehouse uses, the extra that installs them, and
what to tell the user when one is missing.

One table, WAREHOUSES, is read by the source (a URL without a driver uses the extra's), by
the missing-driver message and by the README's "Warehouses" section (tests check both agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from capisync.errors import ConfigError, SourceError
from capisync.sources.messages import scrub_message


@dataclass(frozen=True)
class Warehouse:
    """One warehouse capisync installs by extra: `pip install 'capisync[<extra>]'`."""

    name: str  # as people call it
    extra: str
    dialects: tuple[str, ...]  # the URL's dialect names (before any `+driver`)
    driver: str | None  # the driver the extra installs, for a URL that names none
    module: str  # the module whose absence means the extra is not installed
    example: str  # a URL, secrets as ${VAR}


WAREHOUSES: tuple[Warehouse, ...] = (
    Warehouse(
        "PostgreSQL",
        "postgres",
        ("postgresql",),
        "psycopg",
        "psycopg",
        "postgresql+psycopg://capisync:${PGPASSWORD}@db.example.com:5432/analytics",
    ),
    Warehouse(
        "MySQL / MariaDB",
        "mysql",
        ("mysql", "mariadb"),
        "pymysql",
        "pymysql",
        "mysql+pymysql://capisync:${MYSQL_PASSWORD}@db.example.com:3306/analytics",
    ),
    Warehouse(
        "BigQuery",
        "bigquery",
        ("bigquery",),
        None,
        "sqlalchemy_bigquery",
        "bigquery://my-project/analytics",
    ),
    Warehouse(
        "Snowflake",
        "snowflake",
        ("snowflake",),
        None,
        "snowflake.sqlalchemy",
        "snowflake://capisync:${SNOWFLAKE_PASSWORD}@my_org-my_account/ANALYTICS/MARTS"
        "?warehouse=REPORTING&role=CAPISYNC",
    ),
    Warehouse(
        "Redshift",
        "redshift",
        ("redshift",),
        "redshift_connector",
        "redshift_connector",
        "redshift+redshift_connector://capisync:${REDSHIFT_PASSWORD}"
        "@my-cluster.abc123.eu-west-1.redshift.amazonaws.com:5439/analytics",
    ),
    Warehouse(
        "Databricks",
        "databricks",
        ("databricks",),
        None,
        "databricks.sqlalchemy",
        "databricks://token:${DATABRICKS_TOKEN}@dbc-1234.cloud.databricks.com"
        "?http_path=/sql/1.0/warehouses/abc123&catalog=main&schema=marts",
    ),
)

# Drivers SQLAlchemy knows whose package name differs from the module it imports; a module
# not listed here is installed by the package of the same name.
_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "mariadb": "mariadb",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
}


def warehouse_for(dialect: str) -> Warehouse | None:
    """The warehouse whose URLs start with `dialect` (`mysql`, `mariadb`...), if capisync has
    an extra for it."""
    return next((w for w in WAREHOUSES if dialect in w.dialects), None)


def open_engine(url: str, *, field: str, project_file: str | None) -> sa.Engine:
    """An engine for `url`, its driver loaded (no connection is made yet).

    Raises ConfigError (exit 2, naming `project_file` and `field`) for text that is no URL,
    a dialect or driver that is not installed (see `unusable_url`) or a URL the dialect
    refuses; SourceError (exit 6) when the dialect's own setup fails (BigQuery without
    credentials). The URL itself is never quoted: it may hold a password.
    """
    try:
        parsed = resolve_url(url)
    except ArgumentError as exc:
        raise ConfigError([f"{field}: {unusable_url(url, exc)}"], project_file) from None
    scheme = url.split("://", 1)[0]
    try:
        return sa.create_engine(parsed)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError([f"{field}: {unusable_url(url, exc)}"], project_file) from exc
    except ArgumentError as exc:
        raise ConfigError(
            [f"{field}: the {scheme}:// dialect refuses this URL: {scrub_message(exc)}"],
            project_file,
        ) from exc
    except Exception as exc:
        where = f" ({project_file}: {field})" if project_file else f" ({field})"
        raise SourceError(
            f"cannot open the warehouse at {scheme}://: {scrub_message(driver_text(exc))}{where}"
        ) from exc


def resolve_url(url: str) -> URL:
    """The SQLAlchemy URL a source connects with. A URL without a driver
    (`postgresql://`, `mysql://`, `redshift://`) uses the driver its capisync extra installs,
    not SQLAlchemy's historical default (psycopg2, mysqlclient), which the extra does not.

    Raises ArgumentError for text SQLAlchemy cannot read as a URL.
    """
    parsed = sa.engine.make_url(url)
    warehouse = warehouse_for(parsed.get_backend_name())
    if "+" not in parsed.drivername and warehouse is not None and warehouse.driver is not None:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{warehouse.driver}")
    return parsed


def unusable_url(url: str, exc: BaseException) -> str:
    """Why `create_engine(url)` failed with `exc`, and the command that fixes it: the
    missing module by name, the extra that brings it, a URL of the form the extra uses.
    The URL itself is never repeated (it may hold a password); only its scheme is."""
    if isinstance(exc, ArgumentError) and not isinstance(exc, NoSuchModuleError):
        return (
            "not a URL SQLAlchemy can read; expected dialect+driver://user:password@host:port/"
            f"database, for example {WAREHOUSES[0].example}"
        )
    scheme = url.split("://", 1)[0]
    dialect = scheme.split("+", 1)[0]
    warehouse = warehouse_for(dialect)
    module = _missing_module(exc)
    if warehouse is None:
        if module is not None:  # a dialect SQLAlchemy has, with a driver capisync has no extra for
            return (
                f"{scheme}:// needs the Python module '{module}', which is not installed: run "
                f"`pip install {_PACKAGES.get(module, module)}` (capisync has no extra for "
                f"{dialect}; {_extras_line()})"
            )
        return (
            f"{scheme}:// is not a SQLAlchemy dialect installed here. {_extras_line()}; for "
            "another database, install its SQLAlchemy dialect package"
        )
    install = f"pip install 'capisync[{warehouse.extra}]'"
    missing = module or warehouse.module
    uses_extras_driver = "+" not in scheme or scheme.split("+", 1)[1] == warehouse.driver
    if uses_extras_driver or module is None:
        return (
            f"{scheme}:// needs the Python module '{missing}' ({warehouse.name}), which is not "
            f"installed: run `{install}`"
        )
    driver = scheme.split("+", 1)[1]
    return (
        f"{scheme}:// needs the Python module '{missing}' (the {driver} driver), which is not "
        f"installed: run `{install}` and write the URL as {warehouse.example.split('://')[0]}"
        f"://..., or `pip install {_PACKAGES.get(missing, missing)}` to keep {driver}"
    )


def _missing_module(exc: BaseException) -> str | None:
    """The module whose import failed, from the error or the one it was raised from."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            return seen.name
        if isinstance(seen, NoSuchModuleError):
            return None  # SQLAlchemy found no dialect by that name: no module to name
        seen = seen.__cause__ or seen.__context__
    return None


def _extras_line() -> str:
    urls = ", ".join(f"{w.example.split('://')[0]}:// (capisync[{w.extra}])" for w in WAREHOUSES)
    return f"capisync installs these by extra: {urls}"


def driver_text(exc: BaseException) -> str:
    """The driver's own message: PyMySQL's is the tuple (errno, text)."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"{args[1]} (error {args[0]})"
    return str(orig) or type(orig).__name__
