"""The project file: every problem reported at once, env interpolation, secrets kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from capisync.config import load_project
from capisync.errors import ConfigError

GOOD = """
syncs:
  purchases:
    source: {duckdb: warehouse.duckdb}
    model: models/purchases.sql
    identifier: order_id
    destination:
      dataset_id: "${DATASET:-123}"
      access_token: "${TOKEN}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "capisync.yml"
    path.write_text(text)
    return path


def test_env_references_and_defaults(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "s3cret-token"})
    dest = project.sync("purchases").destination
    assert dest.dataset_id == "123"
    assert dest.access_token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(project.config) and "s3cret" not in str(dest)
    assert dest.base_url == "https://graph.facebook.com"
    assert dest.api_version is None  # the newest current version on the day of the call
    assert project.resolve("warehouse.duckdb") == tmp_path / "warehouse.duckdb"


def test_every_problem_at_once_with_file_sync_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
syncs:
  purchases:
    source: {duckdb: w.duckdb, url: "postgresql://x"}
    model: select 1
    identifer: id
    destination: {dataset_id: abc, access_token: "${MISSING}", api_version: "25"}
    first_run: sometimes
""",
    )
    with pytest.raises(ConfigError) as info:
        load_project(path, env={})
    problems = info.value.problems
    text = str(info.value)
    assert str(path) in text
    assert any(
        "syncs.purchases.destination.access_token" in p and "MISSING is not set" in p
        for p in problems
    )
    assert any("syncs.purchases.source" in p and "exactly one" in p for p in problems)
    assert any("syncs.purchases.identifier: required" in p for p in problems)
    assert any("identifer" in p and "did you mean 'identifier'" in p for p in problems)
    assert any("dataset_id" in p and "numeric dataset ID" in p for p in problems)
    assert any("api_version" in p for p in problems)
    assert any("first_run" in p and "backfill" in p for p in problems)
    assert len(problems) == 7


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syncs:\n  a: [1, 2\n  b: 3\n")
    with pytest.raises(ConfigError) as info:
        load_project(path, env={})
    assert "line" in str(info.value) and info.value.exit_code == 2


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="capisync init"):
        load_project(tmp_path / "nope.yml", env={})


def test_model_file_is_read_relative_to_project(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "purchases.sql").write_text("select 1 as order_id")
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "t"})
    assert project.model_sql("purchases") == "select 1 as order_id"


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "t"})
    with pytest.raises(ConfigError, match="models/purchases.sql' not found"):
        project.model_sql("purchases")


def test_unknown_sync_lists_known_ones(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "t"})
    with pytest.raises(ConfigError, match="the file defines: purchases"):
        project.sync("leads")


# -- every problem of every sync, at once ------------------------------------------------------

TWO_SYNCS = """
syncs:
  purchases:
    source: {duckdb: w.duckdb}
    model: select 1
    identifier: order_id
    event_id: "{event_name}-{order_id"
    mapping: {emial: email, phnoe: phone, frist_name: first}
    static: {acton_source: website, currency: USD}
    destination: {dataset_id: "1", access_token: t}
    delivery: {batch_size: 5000}
  leads:
    source: {duckdb: w.duckdb}
    model: select 2
    identifier: lead_id
    action_source: website
    static: {action_source: websit, ph: "not a phone"}
    destination: {dataset_id: "2", access_token: t}
"""


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text), env=env or {})
    assert info.value.exit_code == 2
    assert info.value.path == str(tmp_path / "capisync.yml")
    assert str(tmp_path / "capisync.yml") in str(info.value)
    return info.value.problems


def test_a_schema_error_does_not_hide_mapping_static_and_template_problems(
    tmp_path: Path,
) -> None:
    problems = problems_of(tmp_path, TWO_SYNCS)
    assert problems == [
        "syncs.purchases.delivery.batch_size: Input should be less than or equal to 1000 "
        "(events per request, 1 to 1000 (Meta's maximum))",
        "syncs.purchases.mapping: unknown parameter 'emial': did you mean 'em' (email)?",
        "syncs.purchases.mapping: unknown parameter 'phnoe': did you mean 'ph' (phone)?",
        "syncs.purchases.mapping: unknown parameter 'frist_name': did you mean 'fn' (first_name)?",
        "syncs.purchases.static: unknown parameter 'acton_source': did you mean 'action_source'?",
        "syncs.purchases.event_id: '{event_name}-{order_id' is not a valid template: "
        "write fields as {column}, e.g. '{event_name}:{order_id}'",
        "syncs.leads.action_source: unknown field: 'action_source' is a Conversions API "
        "parameter; put it under `mapping:` (`action_source: <column>`) or, for one value for "
        "every event, under `static:`",
        "syncs.leads.static: the static value for 'action_source' is not one of Meta's action "
        "sources (app, business_messaging, chat, email, other, phone_call, physical_store, "
        "system_generated, website): fix it under `static:`",
        "syncs.leads.static: the static value for 'ph' was dropped by normalization "
        "(phone_malformed): fix it under `static:`",
    ]
    assert not any("not a phone" in p for p in problems)  # a static value is never echoed


@pytest.mark.parametrize(
    "section, written, hint",
    [
        ("static", "{acton_source: website}", "did you mean 'action_source'?"),
        ("static", "{curency: USD}", "did you mean 'currency'?"),
        ("mapping", "{emial: email}", "did you mean 'em' (email)?"),
        ("mapping", "{custom_data.email: email}", "map it as 'em'"),
        ("static", "{em: a@example.com, email: b@example.com}", "two static values"),
    ],
)
def test_a_typo_says_which_section_it_is_under(
    tmp_path: Path, section: str, written: str, hint: str
) -> None:
    text = GOOD + f"    {section}: {written}\n"
    problems = problems_of(tmp_path, text, env={"TOKEN": "t"})
    assert len(problems) == 1
    assert problems[0].startswith(f"syncs.purchases.{section}: ") and hint in problems[0]


def test_a_key_both_mapped_and_static_is_reported_before_the_warehouse(tmp_path: Path) -> None:
    text = GOOD + "    mapping: {currency: cur}\n    static: {currency: USD}\n"
    [problem] = problems_of(tmp_path, text, env={"TOKEN": "t"})
    assert problem.startswith("syncs.purchases.static: parameter 'currency' is mapped twice")


@pytest.mark.parametrize(
    "template, expected",
    [
        ("{event_name", "'{event_name' is not a valid template"),
        ("{order_id!r}", "no format specs"),
        ("purchase", "has no field"),
    ],
)
def test_a_template_error_names_the_sync_and_the_key_event_id(
    tmp_path: Path, template: str, expected: str
) -> None:
    text = GOOD + f'    event_id: "{template}"\n'
    [problem] = problems_of(tmp_path, text, env={"TOKEN": "t"})
    assert problem.startswith("syncs.purchases.event_id: ") and expected in problem
    assert "event_id_template" not in problem  # the file's key, not the builder's name


def test_a_template_field_missing_from_the_model_names_file_sync_and_key(tmp_path: Path) -> None:
    from capisync.capi.mapping import resolve_mapping
    from capisync.sync import SyncContext
    from capisync.wiring import event_builder, mapping_args

    project = load_project(
        write(tmp_path, GOOD + '    event_id: "{ordr_id}"\n'), env={"TOKEN": "t"}
    )
    config = project.sync("purchases")
    columns = ["order_id", "event_name", "event_time", "action_source", "email"]
    mapping = resolve_mapping(columns, **mapping_args(config))
    with pytest.raises(ConfigError) as info:
        event_builder(SyncContext("purchases", config, project), mapping)
    assert info.value.path == str(project.path) and info.value.exit_code == 2
    problems = info.value.problems
    assert all(p.startswith("syncs.purchases.event_id: ") for p in problems)
    assert "'ordr_id' is not a column of the model" in problems[0]
    assert "event_id_template" not in str(info.value)


def test_builder_problems_go_to_the_key_that_causes_them() -> None:
    from capisync.capi.event import BuildOptions
    from capisync.capi.mapping import FieldMapping, ResolvedMapping
    from capisync.wiring import builder_problems

    mapping = ResolvedMapping(
        (
            FieldMapping("action_source", static="nowhere"),
            FieldMapping("event_name", column="event_name"),
        ),
        "id",
        ("id", "event_name"),
    )
    found = builder_problems(mapping, BuildOptions(event_id_template="{nope}"))
    assert {key for key, _ in found} == {"static", "event_id"}
    assert all("action_source" in p for key, p in found if key == "static")
    assert any("'nope'" in p for key, p in found if key == "event_id")
    assert builder_problems(mapping, BuildOptions()) != []  # the static alone still refused
    fine = ResolvedMapping(mapping.fields[1:], "id", ("id", "event_name"))
    assert builder_problems(fine, BuildOptions(event_id_template="{id}")) == []


# -- YAML's typing of unquoted values -----------------------------------------------------------

IDS = """
syncs:
  purchases:
    source: {{duckdb: w.duckdb}}
    model: select 1
    identifier: order_id
    destination:
      dataset_id: {dataset_id}
      access_token: {token}
      test_event_code: {code}
      app_secret: {secret}
"""


def test_an_unquoted_numeric_id_is_its_decimal_text(tmp_path: Path) -> None:
    text = IDS.format(dataset_id=1234567890, token=987654321, code="0123", secret=42)
    dest = load_project(write(tmp_path, text), env={}).sync("purchases").destination
    assert dest.dataset_id == "1234567890"
    assert dest.access_token.get_secret_value() == "987654321"
    assert dest.test_event_code == "0123"  # not octal 83
    assert dest.app_secret is not None and dest.app_secret.get_secret_value() == "42"


@pytest.mark.parametrize(
    "field, written",
    [
        ("dataset_id", "1.2e9"),
        ("dataset_id", "1234567890.0"),
        ("token", "1.5e3"),
        ("code", "12.50"),
        ("secret", "true"),
    ],
)
def test_an_id_yaml_read_as_a_float_or_boolean_is_refused_and_explained(
    tmp_path: Path, field: str, written: str
) -> None:
    values = {"dataset_id": "123", "token": "t", "code": "TEST1", "secret": "s", field: written}
    [problem] = problems_of(tmp_path, IDS.format(**values))
    name = {"token": "access_token", "code": "test_event_code", "secret": "app_secret"}
    key = name.get(field, field)
    assert problem.startswith(f"syncs.purchases.destination.{key}: YAML read this unquoted")
    assert f'write it in quotes ({key}: "...")' in problem
    assert written not in problem and "1500" not in problem  # never echoed: it may be a secret


@pytest.mark.parametrize("dataset_id", ['"１２３"', '"12³"', '"12 34"', '"-12"', '"0x1F"'])
def test_a_dataset_id_is_ascii_digits(tmp_path: Path, dataset_id: str) -> None:
    values = {"dataset_id": dataset_id, "token": "t", "code": "C", "secret": "s"}
    [problem] = problems_of(tmp_path, IDS.format(**values))
    assert problem.startswith("syncs.purchases.destination.dataset_id: expected the numeric")


def test_yaml_1_1_surprises_keep_the_text_written(tmp_path: Path) -> None:
    text = GOOD.replace("identifier: order_id", "identifier: on") + (
        "    default_country: no\n"  # Norway, not False
        "    hash_external_id: no\n"  # a boolean field: the schema reads the text
        "    delivery: {concurrency: 010, timeout: 1e1}\n"  # ten, not octal 8
        "    mapping: {value: 2024, currency: off}\n"
        "    static:\n"
        "      zp: 02134\n"  # a ZIP code, not octal 1116
        "      st: on\n"
        "      db: 1990-01-02\n"  # text, not a date
        "      custom_data.ticket: 0123\n"
        "      custom_data.slot: 1:30\n"  # not sexagesimal 90
        "      custom_data.count: 3\n"  # JSON's numbers and booleans stay typed
        "      custom_data.share: 0.25\n"
        "      custom_data.member: true\n"
        "      custom_data.note: null\n"
    )
    path = write(tmp_path, text.replace("custom_data.note: null\n", ""))
    sync = load_project(path, env={"TOKEN": "t"}).sync("purchases")
    assert sync.identifier == "on" and sync.default_country == "no"
    assert sync.hash_external_id is False
    assert (sync.delivery.concurrency, sync.delivery.timeout) == (10, 10.0)
    assert sync.mapping == {"value": "2024", "currency": "off"}
    assert sync.static == {
        "zp": "02134",
        "st": "on",
        "db": "1990-01-02",
        "custom_data.ticket": "0123",
        "custom_data.slot": "1:30",
        "custom_data.count": 3,
        "custom_data.share": 0.25,
        "custom_data.member": True,
    }
    [problem] = problems_of(tmp_path, text, env={"TOKEN": "t"})  # null is YAML's null
    assert problem == "syncs.purchases.static: static value for 'custom_data.note' is empty: " + (
        "remove it or give a value"
    )


def test_null_switches_a_parameter_mapped_by_name_off(tmp_path: Path) -> None:
    sync = load_project(
        write(tmp_path, GOOD + "    mapping: {ph: null, em: ~}\n"), env={"TOKEN": "t"}
    ).sync("purchases")
    assert sync.mapping == {"ph": None, "em": None}


# -- YAML anchors, merge keys and x- blocks -----------------------------------------------------

ANCHORS = """
x-source: &warehouse
  duckdb: w.duckdb
x-defaults: &defaults
  source: *warehouse
  identifier: order_id
  static: {action_source: website}
  destination: &meta
    dataset_id: "111"
    access_token: t
    api_version: v25.0
  delivery: {batch_size: 500, concurrency: 2}
syncs:
  purchases:
    <<: *defaults
    model: select 1
  leads:
    <<: *defaults
    x-owner: growth team
    model: select 2
    identifier: lead_id
    static: {action_source: system_generated}
    destination:
      <<: *meta
      dataset_id: "222"
"""


def test_merge_keys_and_x_blocks_as_in_docker_compose(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, ANCHORS), env={})
    purchases, leads = project.sync("purchases"), project.sync("leads")
    assert purchases.identifier == "order_id" and purchases.source.duckdb == "w.duckdb"
    assert purchases.destination.dataset_id == "111"
    assert purchases.delivery.batch_size == 500 and leads.delivery.concurrency == 2
    assert purchases.static == {"action_source": "website"}
    # keys written beside a merge key win; a nested block merges its own anchor
    assert leads.identifier == "lead_id"
    assert leads.static == {"action_source": "system_generated"}
    assert leads.destination.dataset_id == "222"
    assert leads.destination.access_token.get_secret_value() == "t"
    assert leads.destination.api_version == "v25.0"


def test_a_nested_block_written_beside_a_merge_key_replaces_the_merged_one(
    tmp_path: Path,
) -> None:
    # YAML merges one level: `destination:` without its own `<<: *meta` loses the token
    text = ANCHORS.replace("      <<: *meta\n", "")
    problems = problems_of(tmp_path, text)
    assert problems == [
        "syncs.leads.destination.access_token: required field is missing (a system user's "
        'token, read from the environment: "${META_ACCESS_TOKEN}")'
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("defaults: {a: 1}\n", "defaults: unknown field (the top level takes version, state, "),
        ("syncs: {}\nsyncs: {}\n", "the key 'syncs' is given twice"),
        (
            "syncs:\n  p: &p {model: x}\n  q:\n    <<: *p\n    model: y\n    model: z\n",
            "the key 'model' is given twice",
        ),
    ],
)
def test_unknown_top_level_keys_and_repeated_keys_are_still_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    problems = problems_of(tmp_path, text)
    [problem] = [p for p in problems if expected in p]
    if "defaults" in text:
        assert "keys starting with 'x-', which are ignored" in problem


def test_history_ignores_x_blocks_too(tmp_path: Path) -> None:
    from capisync.config import load_history

    history = load_history(write(tmp_path, ANCHORS), env={})
    assert history.syncs == ("purchases", "leads")


SECTIONS = """
syncs:
  purchases:
    source: {{duckdb: w.duckdb{source}}}
    model: select 1
    identifier: order_id
    destination: {{dataset_id: "1", access_token: t{destination}}}
    delivery: {{batch_size: 10{delivery}}}
"""


@pytest.mark.parametrize(
    "section, extra, hint",
    [
        (
            "destination",
            "acess_token: t",
            "acess_token: unknown field: did you mean 'access_token'?",
        ),
        ("delivery", "timout: 3", "timout: unknown field: did you mean 'timeout'?"),
        ("source", "duckbd: x", "duckbd: unknown field: did you mean 'duckdb'?"),
    ],
)
def test_an_unknown_key_is_matched_against_its_own_section(
    tmp_path: Path, section: str, extra: str, hint: str
) -> None:
    extras = {"source": "", "destination": "", "delivery": ""} | {section: f", {extra}"}
    problems = problems_of(tmp_path, SECTIONS.format(**extras))
    assert problems == [f"syncs.purchases.{section}.{hint}"]


def test_every_project_file_in_the_readme_loads(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The project file", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert len(blocks) >= 2
    env = {"META_DATASET_ID": "1234567890", "META_ACCESS_TOKEN": "t"}
    for block in blocks:
        project = load_project(write(tmp_path, block), env=env)
        assert all(s.destination.dataset_id == "1234567890" for s in project.syncs.values())


@pytest.mark.parametrize(
    "static",
    [
        "{zp: 1.0e4}",
        "{lead_id: 1234567890123456.0}",
        "{page_id: 1.2e9}",
        "{ph: 1.6505551212e10}",
        "{external_id: true}",
        "{order_id: 12.50}",
        "{content_ids: [1, 2.0]}",
        "{zip: 9.4e4}",  # an alias
    ],
)
def test_a_static_id_yaml_read_as_a_float_or_boolean_is_refused(
    tmp_path: Path, static: str
) -> None:
    name = static.strip("{").split(":")[0]
    [problem] = problems_of(tmp_path, GOOD + f"    static: {static}\n", env={"TOKEN": "t"})
    assert problem.startswith(f"syncs.purchases.static: '{name}' is written without quotes")
    assert f'write it in quotes ({name}: "...")' in problem
    assert static.split(": ", 1)[1].strip("}") not in problem  # the value is not echoed


def test_numbers_stay_numbers_where_meta_wants_numbers(tmp_path: Path) -> None:
    text = GOOD + (
        "    static: {value: 12.5, currency: USD, lead_id: 1234567890123456, zp: 94035,"
        " custom_data.ratio: 0.5, opt_out: false}\n"
    )
    sync = load_project(write(tmp_path, text), env={"TOKEN": "t"}).sync("purchases")
    assert sync.static["value"] == 12.5 and sync.static["lead_id"] == 1234567890123456
    assert sync.static["custom_data.ratio"] == 0.5 and sync.static["opt_out"] is False
